"""Every change a control at the window asks for, routed through the guard.

The panels only emit requests; here each request is checked (``Guard.allow``: role, PIN,
"<what>: old -> new" confirmed, audit row) and then carried out by the window's own methods,
which are the station's programmatic API (as the state's methods are for a PLC link). A
refused or cancelled request puts the control back to the value in force.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from gui.view_item import ViewItem
from inspector.verdict import implausible_threshold_reason
from station.audit import SYSTEM
from station.events import SetBy
from station.roles import Action, Role
from station.yield_limits import AlarmLimits

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def set_by(role: Role) -> SetBy:
    """Who set a threshold, in the state's words (an admin sets it as an engineer)."""
    return SetBy.OPERATOR if role == Role.OPERATOR else SetBy.ENGINEER


class Gates(QObject):
    """Connects the window's request signals to guarded handlers."""

    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win
        self.guard = guard = win.guard
        live, models = win.live, win.model_panel
        live.threshold_requested.connect(self.threshold)
        live.threshold_save_requested.connect(self.save_threshold)
        live.save_policy_requested.connect(self.save_policy)
        live.counters_reset_requested.connect(self.reset_counters)
        live.shift.lot_requested.connect(self.lot)
        live.shift.shift_requested.connect(self.new_shift)
        models.open_requested.connect(self.open_model)
        models.activate_requested.connect(self.activate_version)
        models.rollback_requested.connect(self.roll_back)
        win.retrain.promote_requested.connect(self.promote)
        win.retrain.train_requested.connect(self.retrain)
        win.retrain.capture_requested.connect(self.capture_good)
        win.retrain.collect_changed.connect(self.collect)
        win.bridge.source_changed.connect(self._source_switched)
        self.collecting: tuple[int, str] = (0, "")  # every n-th frame into folder; 0: off
        win.log_panel.mark_good.connect(self.mark_record_good)
        win.role_bar.unlock_requested.connect(lambda: guard.unlock())
        win.role_bar.lock_requested.connect(guard.lock)
        win.alarm_banner.acknowledge_requested.connect(self.acknowledge)
        win.limits_action.triggered.connect(lambda: self.alarm_limits())
        # What the guard and the production counters say goes on screen.
        production, status = win.production, win.statusBar()
        production.counted.connect(self.show_shift)
        production.failed.connect(lambda msg: status.showMessage(msg, 30000))
        production.alarms_changed.connect(win.alarm_banner.show_alarms)
        production.alarms_changed.connect(lambda _a: win.audit_view.refresh())
        production.timer.timeout.connect(guard.poll)  # the idle lock, once a second
        guard.role_changed.connect(self._role_changed)
        guard.refused.connect(lambda msg: status.showMessage(msg, 15000))
        guard.audited.connect(win.audit_view.refresh)

    def show_shift(self) -> None:
        """The current shift's counts, split and trend (from the persisted counters)."""
        win = self.win
        if win.closed:  # a part counted just before the window closed
            return
        counters = win.production.counters
        snap = counters.current()
        win.live.counters.set_counts(snap.total)
        limit = win.production.alarms.limits.min_yield_pct
        win.live.shift.show_shift(snap, counters.trend(), limit)

    def _role_changed(self, role: str) -> None:
        self.win.role_bar.set_role(role)
        self.win.state.set_role(role)

    # --- thresholds ----------------------------------------------------------------------
    def threshold(self, value: float) -> None:
        win, model, active = self.win, self.win.state.model, self.win.state.threshold
        if model is None or active is None:
            return
        role = self.guard.allow(
            Action.SET_THRESHOLD,
            f"Image threshold of model {model.model_id}",
            subject=model.model_id,
            old=active.value,
            new=value,
            warning=implausible_threshold_reason(
                value, model.score_stats, model.calibrated_threshold
            ),
        )
        if role is None:
            win.live.threshold.set_threshold(active.value, emit=False)
            return
        win.set_threshold(value, by=set_by(role))

    def save_threshold(self, value: float) -> None:
        win, model = self.win, self.win.state.model
        if model is None:
            return
        role = self.guard.allow(
            Action.SAVE_THRESHOLD,
            f"Image threshold saved into model {model.model_id}",
            subject=model.model_id,
            old=model.thresholds.image,
            new=value,
            warning=implausible_threshold_reason(
                value, model.score_stats, model.calibrated_threshold
            ),
        )
        if role is not None:
            win.save_threshold(value)

    # --- policy, counters, shift, lot ----------------------------------------------------
    def save_policy(self, policy: str) -> None:
        state = self.win.state
        if policy == state.save_policy:
            return
        what = "Images saved (save policy)"
        if self.guard.allow(Action.SET_SAVE_POLICY, what, old=state.save_policy, new=policy):
            state.set_save_policy(policy)
        else:
            self.win.live.save_policy.setCurrentText(state.save_policy)

    def reset_counters(self) -> None:
        counters = self.win.production.counters
        old = counters.current().total
        # ShiftCounters writes the audit row itself (with the counts before the reset).
        role = self.guard.allow(
            Action.RESET_COUNTERS,
            "Shift counters",
            old=old,
            new="0 (kept in history)",
            record=False,
        )
        if role is not None:
            counters.reset(role)
            self.win.state.reset_counters(by=str(role))
            self.show_shift()

    def new_shift(self) -> None:
        counters = self.win.production.counters
        old = counters.current().total
        role = self.guard.allow(
            Action.CHANGE_SHIFT, "New shift", old=old, new="a new shift from 0", record=False
        )
        if role is not None:
            counters.change_shift(role)
            self.show_shift()

    def lot(self) -> None:
        counters = self.win.production.counters
        old = counters.lot
        new = self._ask_text(Action.SET_LOT, "Lot of the next parts", old)
        if new is None or new.strip() == old:
            return
        role = self.guard.allow(
            Action.SET_LOT, "Lot", old=old or None, new=new.strip(), record=False
        )
        if role is not None:
            counters.set_lot(new.strip(), role)
            self.show_shift()

    def alarm_limits(self) -> None:
        """Alarm limits typed as ``name=value`` pairs (``none`` switches one off)."""
        alarms = self.win.production.alarms
        old = alarms.limits
        text = self._ask_text(Action.SET_ALARM_LIMITS, "Alarm limits", limits_text(old))
        if text is None:
            return
        try:
            new = parse_limits(text)
        except ValueError as exc:
            self.guard.prompts.tell(self.win, str(exc))
            return
        if new == old:
            return
        role = self.guard.allow(
            Action.SET_ALARM_LIMITS,
            "Alarm limits",
            old=limits_text(old),
            new=limits_text(new),
            record=False,
        )
        if role is not None:
            alarms.set_limits(new, role)  # audited there
            self.win.remember_alarm_limits(new)

    def _ask_text(self, action: Action, what: str, current: str) -> str | None:
        """The role first (no typing for nothing), then the new text; None if refused."""
        if self.guard.ensure(action, what) is None:
            return None
        return self.guard.prompts.ask_text(self.win, what, current)

    # --- models --------------------------------------------------------------------------
    def _current_model(self) -> str | None:
        model = self.win.state.model
        return model.model_id if model else None

    def open_model(self, path: str) -> None:
        role = self.guard.allow(
            Action.CHANGE_MODEL, "Model", subject=path, old=self._current_model(), new=path
        )
        if role is not None:
            self.win.state.request_model(path, by=str(role))

    def activate_version(self, number: int) -> None:
        what = "Model version in use"
        if self.guard.allow(Action.CHANGE_MODEL, what, old=self._current_model(), new=number):
            self.win.model_panel.activate(number)

    def roll_back(self) -> None:
        what = "Model (roll back to the previous version)"
        if self.guard.allow(Action.CHANGE_MODEL, what, old=self._current_model(), new="previous"):
            self.win.model_panel.roll_back()

    def promote(self, bundle: str, note: str) -> None:
        win = self.win
        if win.sample_pending and note == win.sample_note:
            # First start: the station promotes the sample model it trained by itself.
            win.sample_pending = False
            version = win.model_panel.promote(bundle, note, by=SYSTEM)
            if version is not None:
                win.audit.record(
                    SYSTEM, Action.CHANGE_MODEL, subject=bundle, new=version.model_id, reason=note
                )
            return
        what = f"Promote the retrained model ({note})"
        role = self.guard.allow(
            Action.CHANGE_MODEL, what, subject=bundle, old=self._current_model(), new=bundle
        )
        if role is not None:
            win.model_panel.promote(bundle, note, by=str(role))
        else:
            win.retrain.promotion_refused()

    def retrain(self) -> None:
        """Train a candidate on the Retrain tab's images (it is not promoted by this)."""
        panel = self.win.retrain
        if panel.job is not None and panel.job.running():
            return  # one run at a time (its button is disabled meanwhile)
        images = panel.refresh_count()
        if images < 2:
            panel.start_training()  # refuses by itself and says why: nothing to confirm
            return
        plan = f"{' '.join(panel.model_arguments())} on {panel.data_folder()} ({images} images)"
        what = "Retraining a candidate model (promoting it is asked separately)"
        if self.guard.allow(
            Action.RETRAIN,
            what,
            subject=str(panel.data_folder()),
            old=self._current_model(),
            new=plan,
        ):
            panel.start_training()

    # --- training data -------------------------------------------------------------------
    def capture_good(self, folder: str) -> None:
        """The frame on screen when the button was pressed goes into the training set."""
        win = self.win
        frame = win.sources.last_frame()
        if frame is None:
            win.statusBar().showMessage("no frame to capture yet", 5000)
            return
        images = win.retrain.refresh_count()
        what = f"Training data: frame {frame.name or frame.index} added as good"
        if self.guard.allow(
            Action.LABEL_PART,
            what,
            subject=folder,
            old=f"{images} images",
            new=f"{images + 1} images",
        ):
            win.capture_good(folder, frame)

    def collect(self, every: int, folder: str) -> None:
        """Collect every n-th camera frame as good (or stop); refused: the controls go back."""
        old, new = self.collecting, (every, folder) if every else (0, "")
        if new == old:
            return
        what = "Training data: camera frames collected as good"
        if self.guard.allow(
            Action.LABEL_PART,
            what,
            subject=folder or old[1],
            old=_collecting(old),
            new=_collecting(new),
        ):
            self.collecting = new
            self.win.collect_every(*new)
            return
        self._show_collecting(old[0])

    def _show_collecting(self, every: int) -> None:
        """Put the Retrain tab's controls back to what is in force, asking nothing."""
        panel = self.win.retrain
        for control in (panel.collect, panel.every):
            control.blockSignals(True)
        if every:
            panel.every.setValue(every)
        panel.collect.setChecked(bool(every))
        for control in (panel.collect, panel.every):
            control.blockSignals(False)

    def _source_switched(self, _spec: str) -> None:
        # A new capture thread collects nothing: say so and audit it, never leave a checked
        # box that collects nothing (nor extend the permission to another camera).
        if not self.collecting[0]:
            return
        old, self.collecting = self.collecting, (0, "")
        self.win.audit.record(
            SYSTEM,
            Action.LABEL_PART,
            subject=old[1],
            old=_collecting(old),
            new="off",
            reason="the source changed",
        )
        self._show_collecting(0)
        self.win.statusBar().showMessage(
            "collecting good frames stopped: the source changed", 15000
        )
        self.guard.audited.emit()

    def mark_item_good(self, item: ViewItem) -> None:
        what = f"Training data: part {item.part_id} ({item.verdict}) marked actually good"
        if self.guard.allow(
            Action.LABEL_PART, what, subject=item.part_id, old=item.label or None, new="good"
        ):
            self.win.mark_item_good(item)

    def mark_record_good(self, record_id: int) -> None:
        rec = self.win.log.get(record_id)
        if rec is None:
            return
        what = f"Training data: log row {record_id} ({rec.verdict}) marked actually good"
        if self.guard.allow(
            Action.LABEL_PART, what, subject=str(record_id), old=rec.label or None, new="good"
        ):
            self.win.mark_record_good(record_id)
            review = self.win.log_panel.review  # the dialog it may come from shows it marked
            if review is not None and review.item.record_id == record_id:
                review.item.label = "good"

    # --- alarms --------------------------------------------------------------------------
    def acknowledge(self) -> None:
        """Any role may acknowledge; no PIN, no confirmation, but an audit row each."""
        self.win.production.acknowledge(self.guard.poll())
        self.guard.audited.emit()


def _collecting(setting: tuple[int, str]) -> str:
    every, folder = setting
    return f"1 frame in {every} into {folder}" if every else "off"


def limits_text(limits: AlarmLimits) -> str:
    def show(v: object) -> str:
        return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={show(v)}" for k, v in vars(limits).items())


def parse_limits(text: str) -> AlarmLimits:
    """``consecutive_fails=5, min_yield_pct=90, ...`` -> AlarmLimits (errors name the field)."""
    data: dict[str, object] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"alarm limits: {pair!r} is not name=value")
        value = value.strip()
        try:
            data[name.strip()] = (
                None
                if value.lower() in ("none", "off", "")
                else (
                    int(value)
                    if name.strip() in ("consecutive_fails", "yield_window")
                    else float(value)
                )
            )
        except ValueError:
            raise ValueError(f"alarm limits: {name.strip()}={value!r} is not a number") from None
    return AlarmLimits.from_mapping(data, "alarm limits")
