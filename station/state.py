"""What the station holds, in one Qt-free object that the window, a PLC link and tests drive.

``StationState`` keeps the loaded model, the image threshold in force and who set it, the
inspection mode, the source, the save policy, the counters, the role, the recipe and the
status of a line link. Every change goes through one of its methods and is announced to
every listener as a typed event (``station.events``). Requests that another part of the
station carries out (load a model, take a part on a trigger, apply a recipe) are events
too, so a transport asks for them exactly as the mouse does, and sees the outcome (a
``PartJudged`` event for each part) the same way the window does.

Threads: every method may be called from any thread. Listeners run on the calling thread
after the lock is released; the window's bridge (``gui.state_bridge``) turns events into
queued Qt signals, so widgets are only touched on the UI thread.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from inspector.bundle import update_thresholds
from inspector.recorder import SAVE_POLICIES
from inspector.verdict import Thresholds
from station.events import (
    ActiveThreshold,
    CountersChanged,
    LinkChanged,
    LinkStatus,
    Listener,
    LoadedModel,
    ModeChanged,
    ModelChanged,
    ModelFailed,
    ModelRequested,
    PartJudged,
    PartResult,
    RecipeSelected,
    RoleChanged,
    SavePolicyChanged,
    SetBy,
    SourceChanged,
    SourceStatus,
    StateEvent,
    ThresholdChanged,
    TriggerRequested,
)
from station.shifts import Tally

log = logging.getLogger(__name__)

MODES = ("continuous", "triggered")


class StationState:
    """The station's model, observed by the window and driven by the mouse or a transport.

    Args:
        mode: ``continuous`` (every frame is a part) or ``triggered`` (one part per trigger).
        source: what the capture reads (camera index, file, folder, URL).
        save_policy: which part images are kept (``fail``, ``all``, ``none``).
        overrides: image thresholds per model id chosen at the station and not saved into
            the bundle; the one for a model applies from its first part.
        role: who works at the station now.
    """

    def __init__(
        self,
        mode: str = "continuous",
        source: str = "",
        save_policy: str = "fail",
        overrides: Mapping[str, float] | None = None,
        role: str = "operator",
    ) -> None:
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._mode = _choice("mode", mode, MODES)
        self._source = source
        self._source_status = SourceStatus("stopped", "")
        self._policy = _choice("save policy", save_policy, SAVE_POLICIES)
        self._overrides = {
            k: ActiveThreshold(k, _finite(v), SetBy.OPERATOR) for k, v in (overrides or {}).items()
        }
        self._role = role
        self._model: LoadedModel | None = None
        self._counters = Tally()
        self._recipe = ""
        self._link: LinkStatus | None = None
        self._trigger_ids = itertools.count(1)
        self._alarm_code: Callable[[], int] | None = None

    # --- observing ---------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; returns the unsubscribe call."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: StateEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # one broken observer must not stop the line or the others
                log.exception("station state listener failed on %s", type(event).__name__)

    # --- reading -----------------------------------------------------------------------
    @property
    def model(self) -> LoadedModel | None:
        return self._model

    @property
    def threshold(self) -> ActiveThreshold | None:
        """The image threshold parts of the loaded model are judged by, and who set it."""
        with self._lock:
            return self._active(self._model) if self._model else None

    @property
    def thresholds(self) -> Thresholds | None:
        """The loaded model's thresholds with the image threshold in force."""
        with self._lock:
            if self._model is None:
                return None
            return replace(self._model.thresholds, image=self._active(self._model).value)

    def threshold_for(self, model_id: str) -> float | None:
        """The station's image threshold for ``model_id``, None if the bundle's applies."""
        with self._lock:
            chosen = self._overrides.get(model_id)
            return chosen.value if chosen else None

    @property
    def overrides(self) -> dict[str, float]:
        """Station thresholds per model id (what the settings file keeps)."""
        with self._lock:
            return {k: v.value for k, v in self._overrides.items()}

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def source(self) -> str:
        return self._source

    @property
    def source_status(self) -> SourceStatus:
        return self._source_status

    @property
    def save_policy(self) -> str:
        return self._policy

    @property
    def counters(self) -> Tally:
        """Parts judged since the station started or the counters were reset."""
        return self._counters

    @property
    def role(self) -> str:
        return self._role

    @property
    def recipe(self) -> str:
        return self._recipe

    @property
    def link(self) -> LinkStatus | None:
        return self._link

    def production_alarm(self) -> int:
        """The production alarm code for a PLC's ``Alarm`` signal (101-103,
        ``station.yield_alarms.YieldAlarmCode``); 0 when none is shown."""
        provider = self._alarm_code
        return provider() if provider is not None else 0

    def set_production_alarms(self, provider: Callable[[], int] | None) -> None:
        """Who knows the production alarms (the window's ``YieldAlarms``); None: nobody."""
        self._alarm_code = provider

    # --- requests (carried out by the inference and capture threads) -------------------
    def request_model(self, path: str, by: str = "operator") -> None:
        """Ask for the bundle at ``path`` to be loaded; ``ModelChanged`` or ``ModelFailed``
        follows."""
        self._emit(ModelRequested(str(path), by))

    def request_trigger(self, part_id: str = "", by: str = "operator") -> str:
        """Ask for one part to be taken and judged (triggered mode); returns its part id,
        which the ``PartJudged`` event for it carries."""
        with self._lock:
            part_id = part_id or f"T{next(self._trigger_ids)}"
        self._emit(TriggerRequested(part_id, by))
        return part_id

    def select_recipe(self, name: str, by: str = "operator") -> None:
        """Select the recipe ``name``; whoever applies recipes listens for ``RecipeSelected``."""
        with self._lock:
            self._recipe = name
        self._emit(RecipeSelected(name, by))

    # --- changes -----------------------------------------------------------------------
    def set_model(self, model: LoadedModel) -> None:
        """The inference thread now judges with ``model``."""
        with self._lock:
            self._model = model
            active = self._active(model)
        self._emit(ModelChanged(model, active))

    def model_failed(self, path: str, reason: str) -> None:
        """Loading ``path`` failed; the running model (if any) goes on judging."""
        self._emit(ModelFailed(path, reason, self._model))

    def set_threshold(self, value: float, by: SetBy | str = SetBy.OPERATOR) -> ActiveThreshold:
        """Judge the loaded model's next parts by ``value`` (not saved into the bundle).

        Raises:
            LookupError: no model is loaded. ValueError: ``value`` is not a finite number.
        """
        value = _finite(value)
        with self._lock:
            if self._model is None:
                raise LookupError("no model is loaded: there is no threshold to set")
            active = ActiveThreshold(self._model.model_id, value, SetBy(by))
            self._overrides[active.model_id] = active
        self._emit(ThresholdChanged(active))
        return active

    def save_threshold(self, value: float, by: SetBy | str = SetBy.ENGINEER) -> ActiveThreshold:
        """Write ``value`` into the loaded model's bundle; it then applies as the bundle's.

        Raises:
            LookupError: no model is loaded. ValueError: not a finite number.
            OSError, inspector.bundle.BundleError: the bundle could not be written.
        """
        value = _finite(value)
        model = self._model
        if model is None:
            raise LookupError("no model is loaded: there is no threshold to save")
        log.info("image threshold %s saved into %s by %s", value, model.path, SetBy(by))
        meta = update_thresholds(model.path, image=value)
        with self._lock:
            if self._model is not None and self._model.model_id == model.model_id:
                self._model = replace(self._model, thresholds=meta.thresholds)
            self._overrides.pop(model.model_id, None)
            active = ActiveThreshold(model.model_id, meta.thresholds.image, SetBy.BUNDLE)
        self._emit(ThresholdChanged(active, saved=True))
        return active

    def set_mode(self, mode: str) -> None:
        mode = _choice("mode", mode, MODES)
        with self._lock:
            if mode == self._mode:
                return
            self._mode = mode
        self._emit(ModeChanged(mode))

    def set_source(self, spec: str) -> None:
        """Capture from ``spec`` from now on ("" = none); the capture control listens."""
        with self._lock:
            self._source = spec.strip()
            self._source_status = SourceStatus("connecting" if self._source else "stopped", "")
        self._emit(SourceChanged(self._source))

    def set_source_status(self, status: str, detail: str = "") -> None:
        with self._lock:
            self._source_status = SourceStatus(status, detail)
        self._emit(self._source_status)

    def set_save_policy(self, policy: str) -> None:
        policy = _choice("save policy", policy, SAVE_POLICIES)
        with self._lock:
            self._policy = policy
        self._emit(SavePolicyChanged(policy))

    def record_result(self, result: PartResult) -> Tally:
        """Count a judged part and announce it (with the counters it makes).

        Raises:
            KeyError: the verdict is none of PASS, FAIL, ERROR (it would count as nothing).
        """
        with self._lock:
            self._counters = self._counters.plus(result.verdict)
            counters = self._counters
        self._emit(PartJudged(result, counters))
        return counters

    def reset_counters(self, by: str = "operator") -> None:
        with self._lock:
            self._counters = Tally()
        self._emit(CountersChanged(self._counters, by))

    def set_role(self, role: str) -> None:
        """Who works at the station now (the roles and what each may do: ``station.roles``)."""
        if not role:
            raise ValueError("role must not be empty")
        with self._lock:
            self._role = role
        self._emit(RoleChanged(role))

    def set_link_status(self, status: LinkStatus) -> None:
        """A line link reports its connection (shown to the operator)."""
        with self._lock:
            self._link = status
        self._emit(LinkChanged(status))

    def _active(self, model: LoadedModel) -> ActiveThreshold:
        chosen = self._overrides.get(model.model_id)
        if chosen is not None:
            return chosen
        return ActiveThreshold(model.model_id, model.thresholds.image, SetBy.BUNDLE)


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _finite(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"image threshold must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"image threshold must be a finite number, got {value!r}")
    return number
