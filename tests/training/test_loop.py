"""The shared training loop with a real (tiny) pixel autoencoder on generated images."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from inspector.preprocess import Preprocessing, fit_to_input
from training.batches import AugmentedImages
from training.data import InputImages
from training.fitters.cae import CAETask, build_cae
from training.loop import CHECKPOINT, TrainingCancelled, TrainingLoop, improved, warm_up
from training.settings import TrainSettings

SIZE = 32


def images(n: int, seed: int) -> InputImages:
    rng = np.random.default_rng(seed)
    spec = Preprocessing(input_size=(SIZE, SIZE))
    arrays, geoms = [], []
    for _ in range(n):
        base = np.full((SIZE, SIZE, 3), 120, np.uint8)
        base[8:24, 8:24] = rng.integers(150, 200)
        arr, geom = fit_to_input(base + rng.integers(0, 10, base.shape, dtype=np.uint8), spec)
        arrays.append(arr)
        geoms.append(geom)
    return InputImages(arrays, geoms, spec)


def settings(**changes) -> TrainSettings:
    base = dict(
        input_size=SIZE, base_channels=4, depth=2, latent_dim=4, epochs=3, batch_size=4,
        patience=0, tensorboard=False, device="cpu",
    )  # fmt: skip
    return TrainSettings.for_family("cae", **{**base, **changes})


def run(s: TrainSettings, workdir: Path, resume: bool = False, cancel=None, task_hook=None):
    torch.manual_seed(s.run.seed)
    model = build_cae(s)
    val = images(4, 1)
    task = CAETask(model, s, torch.from_numpy(val.batch(range(2))))
    if task_hook:
        task = task_hook(task)
    train = AugmentedImages(images(8, 0), s.run.augment, s.run.seed)
    loop = TrainingLoop(
        task, train, AugmentedImages(val, (), s.run.seed), s, workdir, resume=resume,
        show_progress=False, cancel=cancel,
    )  # fmt: skip
    return model, loop.run()


def weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.slow
def test_loss_falls_and_best_epoch_is_kept(tmp_path: Path) -> None:
    _, result = run(settings(epochs=6, learning_rate=3e-3), tmp_path)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.stopped == "epochs" and result.epochs_run == 6
    assert result.best_val_loss == min(h["val_loss"] for h in result.history)
    assert (tmp_path / CHECKPOINT).is_file()


def test_early_stopping_when_validation_stops_improving(tmp_path: Path) -> None:
    # A zero learning rate never improves after the first epoch.
    _, result = run(settings(epochs=10, patience=2, learning_rate=0.0), tmp_path)
    assert result.stopped == "early"
    assert result.epochs_run == result.best_epoch + 2 < 10


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path) -> None:
    a, _ = run(settings(), tmp_path / "a")
    b, _ = run(settings(), tmp_path / "b")
    c, _ = run(settings(seed=1), tmp_path / "c")
    assert torch.equal(weights(a), weights(b))
    assert not torch.equal(weights(a), weights(c))


def test_resume_continues_to_the_same_weights(tmp_path: Path) -> None:
    # patience 0 keeps the last epoch's weights comparable between the two runs
    full, _ = run(settings(epochs=4), tmp_path / "full")
    run(settings(epochs=2), tmp_path / "split")
    resumed, result = run(settings(epochs=4), tmp_path / "split", resume=True)
    assert result.resumed_from == 2 and result.epochs_run == 4
    assert torch.allclose(weights(full), weights(resumed), atol=1e-6)


def test_warm_up_ramps_every_group_by_the_optimisers_own_step_count() -> None:
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))

    def optimizer() -> torch.optim.Optimizer:
        # two groups at their own rates, as the feature GAN's adaptor and critic
        return torch.optim.AdamW([{"params": [a], "lr": 1e-4}, {"params": [b], "lr": 1e-3}])

    def step(opt: torch.optim.Optimizer, steps: int = 4) -> list[float]:
        opt.zero_grad()
        (a.sum() + b.sum()).backward()
        warm_up(opt, steps)
        opt.step()
        return [g["lr"] for g in opt.param_groups]

    first = optimizer()
    for k in (1, 2, 3):  # 1/4, 2/4, 3/4 of each group's own rate
        assert step(first) == pytest.approx([k * 2.5e-5, k * 2.5e-4])
    resumed = optimizer()
    resumed.load_state_dict(first.state_dict())  # what a checkpoint carries
    assert step(resumed) == pytest.approx([1e-4, 1e-3])
    assert step(resumed) == pytest.approx([1e-4, 1e-3])
    # no warm-up: the full rate from the first step, as runs measured before it had
    assert step(optimizer(), steps=0) == pytest.approx([1e-4, 1e-3])


def test_the_loop_warms_up_and_a_resumed_run_continues_the_ramp(tmp_path: Path) -> None:
    tasks: list[CAETask] = []

    def keep(task: CAETask) -> CAETask:
        tasks.append(task)
        return task

    s = settings(epochs=1, learning_rate=1e-3, warmup_steps=8)
    run(s, tmp_path, task_hook=keep)  # 8 images in batches of 4: 2 steps
    run(s.override(epochs=2), tmp_path, resume=True, task_hook=keep)
    rates = [t.optimizers[0].param_groups[0]["lr"] for t in tasks]
    assert rates == pytest.approx([2 / 8 * 1e-3, 4 / 8 * 1e-3])


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path: Path) -> None:
    run(settings(epochs=1), tmp_path)
    with pytest.raises(ValueError, match="different training settings"):
        run(settings(epochs=2, latent_dim=8), tmp_path, resume=True)


def test_resume_refuses_a_damaged_checkpoint(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        run(settings(), tmp_path, resume=True)


def test_cancel_keeps_the_last_finished_epoch(tmp_path: Path) -> None:
    cancel = threading.Event()

    class CancelInEpochTwo:
        def __init__(self, task: CAETask) -> None:
            self.inner, self.model, self.optimizers = task, task.model, task.optimizers
            self.steps = 0

        def training_step(self, batch):
            self.steps += 1
            if self.steps == 3:  # 2 batches per epoch: the first batch of epoch 2
                cancel.set()
            yield from self.inner.training_step(batch)

        def validation_loss(self, batch):
            return self.inner.validation_loss(batch)

        def visuals(self):
            return self.inner.visuals()

    with pytest.raises(TrainingCancelled, match="epochs up to 1 are saved"):
        run(settings(epochs=5), tmp_path, cancel=cancel, task_hook=CancelInEpochTwo)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 1
    _, result = run(settings(epochs=2), tmp_path, resume=True)
    assert result.resumed_from == 1 and result.epochs_run == 2


def test_tensorboard_gets_curves_and_pictures(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(settings(epochs=2, tensorboard=True), tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "val/loss"} <= set(tags["scalars"])
    assert len(events.Scalars("val/loss")) == 2
    assert {"images", "reconstructions", "anomaly_map"} <= set(tags["images"])


def test_improved_treats_the_first_value_as_better() -> None:
    assert improved(5.0, float("inf"))
    assert improved(-1.0, 0.5)
    assert not improved(0.5, 0.5)


def test_tensorboard_map_pictures_span_zero_to_one_even_for_negative_maps() -> None:
    from training.fitters.context import map_picture

    maps = -torch.rand(2, 1, 8, 8) - 1.0  # a negated discriminator verdict: all negative
    picture = map_picture(maps)
    assert float(picture.min()) == 0.0 and float(picture.max()) == pytest.approx(1.0)


def test_a_preset_is_resumable_as_the_settings_it_spelled_out() -> None:
    from training.loop import settings_key

    preset = TrainSettings.from_preset("feature-ae-surface")
    spelled = TrainSettings.for_family("feature-ae", context=8, relative_to_part=False)
    assert settings_key(preset) == settings_key(spelled)
    assert settings_key(preset) != settings_key(TrainSettings.for_family("feature-ae"))
