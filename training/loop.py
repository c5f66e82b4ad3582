"""The gradient training loop shared by every trained family (autoencoders, GANs).

A family supplies a ``Task``: its model, its optimisers, and what one training step, the
validation loss and the TensorBoard pictures are. The loop supplies everything a user expects
of a serious trainer, once: augmentation, fixed seeds, a validation split of good images for
early stopping, checkpoints every epoch and resume, a progress bar with the losses,
TensorBoard logs, CUDA mixed precision, and a clean cancel (Ctrl-C, SIGTERM from the
station's retrain job, or an event) that keeps the last finished epoch on disk.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import random
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training.batches import BatchSource
from training.progress import Progress
from training.settings import TrainSettings

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "visual-inspector-checkpoint/1"
# Settings that do not change what a run computes; a resumed run may change them. A preset
# is only the name of where the settings came from: the values it set are compared.
RUN_ONLY_SETTINGS = ("epochs", "patience", "device", "tensorboard", "preset")

log = logging.getLogger(__name__)


class TrainingCancelled(RuntimeError):
    """Training stopped on request; the last finished epoch is in the checkpoint."""


class Task(Protocol):
    """What a trained family gives the loop."""

    @property
    def model(self) -> nn.Module: ...

    @property
    def optimizers(self) -> Sequence[torch.optim.Optimizer]: ...

    def training_step(
        self, batch: torch.Tensor
    ) -> Iterator[tuple[str, torch.Tensor, torch.optim.Optimizer]]:
        """Yield (name, loss, optimiser) in order; the loop steps each before resuming.

        A generator lets a GAN compute its generator loss after the discriminator stepped.
        """
        ...

    def validation_loss(self, batch: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch of held-out good images (lower is better)."""
        ...

    def visuals(self) -> dict[str, torch.Tensor]:
        """Pictures of a few validation images for TensorBoard: name -> (B, C, H, W) in 0..1."""
        ...


class RunningMeans:
    """Means of monitored values since they were last read (one epoch's, in the loop)."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, name: str, values: torch.Tensor) -> None:
        self._sums[name] = self._sums.get(name, 0.0) + float(values.detach().float().sum())
        self._counts[name] = self._counts.get(name, 0) + values.numel()

    def pop(self) -> dict[str, float]:
        means = {k: v / max(self._counts[k], 1) for k, v in self._sums.items()}
        self._sums, self._counts = {}, {}
        return means


def epoch_scalars(task: Task) -> dict[str, float]:
    """Values a task monitors over an epoch besides its losses (optional ``scalars()``):
    the GANs' discriminator outputs on good and on synthesised inputs, for instance."""
    scalars = getattr(task, "scalars", None)
    return dict(scalars()) if callable(scalars) else {}


@dataclass
class LoopResult:
    """What a run did, for the bundle's training summary."""

    epochs_run: int
    best_epoch: int
    best_val_loss: float
    stopped: str  # "early", "epochs" or "cancelled"
    seconds: float
    device: str
    amp: bool
    resumed_from: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_val_loss": round(self.best_val_loss, 6),
            "stopped": self.stopped,
            "train_seconds": round(self.seconds, 1),
            "device": self.device,
            "amp": self.amp,
            "resumed_from_epoch": self.resumed_from,
            "final_train_loss": self.history[-1] if self.history else {},
        }


def improved(value: float, best: float) -> bool:
    """A validation loss better than the best so far by more than rounding noise."""
    return not math.isfinite(best) or value < best - 1e-6 * abs(best)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else as given (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but no CUDA GPU is available")
    return device


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed of one epoch of a run."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def warm_up(optimizer: torch.optim.Optimizer, steps: int) -> None:
    """Rates rising linearly to their full value over an optimiser's first ``steps`` steps.

    A fast learner's first epochs are noisy; on a small set early stopping then keeps one of
    them. The step count is the optimiser's
    own, which its checkpoint keeps, so a resumed run continues the ramp where it stopped.
    """
    if steps <= 0:
        return
    first = optimizer.param_groups[0]["params"][0]
    state = optimizer.state.get(first, {})
    done = int(state["step"]) if "step" in state else 0
    factor = min(1.0, (done + 1) / steps)
    for group in optimizer.param_groups:
        # Each group's full rate is kept in the group (torch's schedulers' key), so it
        # travels with the optimiser's checkpoint and groups at their own rates ramp alike.
        group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def settings_key(s: TrainSettings) -> str:
    """Hash of the settings that decide what training computes (resume must match it)."""
    d = {k: v for k, v in s.to_dict().items() if k not in RUN_ONLY_SETTINGS}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def stop_on_signals(event: threading.Event) -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into ``event`` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:
        event.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class TrainingLoop:
    """One run of a ``Task`` over training and validation images.

    Args:
        task: the family's model, optimisers and losses.
        train: training batches (augmented images, or what the family caches of them).
        val: held-out good samples for the validation loss.
        settings: epochs, batch size, patience, augmentation, device, seed, ...
        workdir: checkpoint and TensorBoard folder.
        resume: continue from ``workdir``'s checkpoint if it exists.
        show_progress: draw the progress bar.
        cancel: set from anywhere to stop after the current batch.
        progress: where the ``training`` stage reports each epoch and its losses.
    """

    def __init__(
        self,
        task: Task,
        train: BatchSource,
        val: BatchSource,
        settings: TrainSettings,
        workdir: str | Path,
        resume: bool = False,
        show_progress: bool = True,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> None:
        if len(train) == 0 or len(val) == 0:
            raise ValueError("training needs at least one training and one validation image")
        self.task, self.settings, self.s = task, settings, settings.run
        self.train, self.val = train, val
        self.workdir = Path(workdir)
        self.resume, self.show_progress = resume, show_progress
        self.cancel = cancel or threading.Event()
        self.progress = progress or Progress.silent()
        self.device = resolve_device(self.s.device)
        self.amp = self.s.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    # -- checkpoints --------------------------------------------------------------------

    def _checkpoint_path(self) -> Path:
        return self.workdir / CHECKPOINT

    def _save(self, state: dict[str, Any]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self._checkpoint_path().with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self._checkpoint_path())  # a kill mid-write leaves the old one whole

    def _load(self) -> dict[str, Any] | None:
        path = self._checkpoint_path()
        if not (self.resume and path.is_file()):
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a checkpoint of this product")
        if state["settings_key"] != settings_key(self.settings):
            raise ValueError(
                f"{path} was made with different training settings; resume with the same "
                "settings, or train without --resume to start over"
            )
        return state

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> LoopResult:
        s, task = self.s, self.task
        seed_everything(s.seed)
        task.model.to(self.device)
        state = self._load()
        start, best_val, best_epoch, bad, history = 0, float("inf"), 0, 0, []
        best_state = None
        if state is not None:
            task.model.load_state_dict(state["model"])
            for opt, opt_state in zip(task.optimizers, state["optimizers"], strict=True):
                opt.load_state_dict(opt_state)
            if state["scaler"]:  # empty when saved without AMP (a CPU run resumed on CUDA)
                self.scaler.load_state_dict(state["scaler"])
            start, best_val, best_epoch = state["epoch"], state["best_val"], state["best_epoch"]
            bad, history, best_state = state["bad_epochs"], state["history"], state["best_model"]
        writer = self._writer(purge_step=start)
        val_batches = [b.to(self.device) for b in self.val.batches(None, s.batch_size)]
        t0, stopped, epoch = time.perf_counter(), "epochs", start
        bar = tqdm(
            total=s.epochs,
            initial=start,
            desc="train",
            unit="epoch",
            disable=not self.show_progress,
        )
        self.progress.stage("training", s.epochs)
        self.progress.update(start)
        try:
            with stop_on_signals(self.cancel):
                for epoch in range(start + 1, s.epochs + 1):
                    if start and epoch == start + 1 and bad >= s.patience > 0:
                        stopped = "early"
                        break
                    losses = self._train_epoch(epoch, bar)
                    monitored = epoch_scalars(task)
                    val = self._validate(val_batches)
                    history.append({"epoch": epoch, **losses, **monitored, "val_loss": val})
                    if improved(val, best_val):
                        best_val, best_epoch, bad = val, epoch, 0
                        best_state = copy.deepcopy(
                            {k: v.detach().cpu() for k, v in task.model.state_dict().items()}
                        )
                    else:
                        bad += 1
                    self._log(writer, epoch, losses, monitored, val)
                    bar.set_postfix(**{k: f"{v:.4g}" for k, v in losses.items()}, val=f"{val:.4g}")
                    bar.update(1)
                    self.progress.update(epoch, {**losses, "val_loss": val})
                    self._save(
                        {
                            "format": CHECKPOINT_FORMAT,
                            "settings_key": settings_key(self.settings),
                            "epoch": epoch,
                            "model": task.model.state_dict(),
                            "optimizers": [opt.state_dict() for opt in task.optimizers],
                            "scaler": self.scaler.state_dict(),
                            "best_val": best_val,
                            "best_epoch": best_epoch,
                            "bad_epochs": bad,
                            "best_model": best_state,
                            "history": history,
                        }
                    )
                    if s.patience > 0 and bad >= s.patience:
                        stopped = "early"
                        break
        except TrainingCancelled:
            stopped = "cancelled"
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        if stopped == "cancelled":
            raise TrainingCancelled(
                f"training cancelled in epoch {epoch}; epochs up to {epoch - 1} are saved in "
                f"{self._checkpoint_path()} (train again with --resume to continue)"
            )
        if best_state is not None:  # the weights of the best validation epoch, not the last
            task.model.load_state_dict(best_state)
        task.model.eval()
        return LoopResult(
            epochs_run=len(history),
            best_epoch=best_epoch,
            best_val_loss=best_val,
            stopped=stopped,
            seconds=time.perf_counter() - t0,
            device=str(self.device),
            amp=self.amp,
            resumed_from=start,
            history=history,
        )

    def _train_epoch(self, epoch: int, bar: tqdm) -> dict[str, float]:
        task = self.task
        task.model.train()
        # Random draws inside a task (synthetic anomalies, pasted patches) depend only on the
        # seed and the epoch, so a resumed run repeats an uninterrupted one exactly.
        torch.manual_seed(epoch_seed(self.s.seed, epoch))
        sums: dict[str, float] = {}
        count = 0
        for cpu_batch in self.train.batches(epoch, self.s.batch_size):
            if self.cancel.is_set():
                raise TrainingCancelled
            batch = cpu_batch.to(self.device, non_blocking=True)
            steps = task.training_step(batch)
            while True:
                with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                    try:
                        name, loss, opt = next(steps)
                    except StopIteration:
                        break
                value = float(loss.detach())
                if not math.isfinite(value):  # before the step: keep the weights usable
                    raise FloatingPointError(
                        f"{name} became {value} in epoch {epoch}; lower the learning rate"
                    )
                opt.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                warm_up(opt, self.s.warmup_steps)
                self.scaler.step(opt)
                sums[name] = sums.get(name, 0.0) + value * len(batch)
            self.scaler.update()
            count += len(batch)
            bar.set_postfix({k: f"{v / count:.4g}" for k, v in sums.items()}, refresh=False)
        return {k: v / count for k, v in sums.items()}

    @torch.no_grad()
    def _validate(self, batches: Sequence[torch.Tensor]) -> float:
        self.task.model.eval()
        total, count = 0.0, 0
        for batch in batches:
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                total += float(self.task.validation_loss(batch)) * len(batch)
            count += len(batch)
        return total / count

    # -- TensorBoard --------------------------------------------------------------------

    def _writer(self, purge_step: int) -> Any:
        if not self.s.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            # A missing logger must never cost a training run; say so and carry on.
            log.warning("TensorBoard is not installed; training without its logs")
            return None

        return SummaryWriter(str(self.workdir / "tensorboard"), purge_step=purge_step + 1)

    def _log(
        self,
        writer: Any,
        epoch: int,
        losses: dict[str, float],
        monitored: dict[str, float],
        val: float,
    ) -> None:
        if writer is None:
            return
        for name, value in losses.items():
            writer.add_scalar(f"train/{name}", value, epoch)
        writer.add_scalar("val/loss", val, epoch)
        for name, value in monitored.items():
            writer.add_scalar(f"monitor/{name}", value, epoch)
        every = max(1, self.s.epochs // 10)
        if epoch % every == 0 or epoch == 1:
            self.task.model.eval()
            with torch.no_grad():
                for name, images in self.task.visuals().items():
                    writer.add_images(name, images.float().clamp(0, 1).cpu(), epoch)
        writer.flush()
