"""Where a training loop's batches come from: augmented images, or anything a family caches.

The loop only asks a source for the batches of an epoch. Images are augmented afresh every
epoch; a family whose expensive, fixed part (a frozen backbone) would otherwise run on every
epoch caches that part's output for a few augmented views instead (see the feature
autoencoder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import torch

from training.augment import augment_batch, build_augmentation
from training.data import InputImages

VIEW_EPOCHS = 1_000_000


class BatchSource(Protocol):
    def __len__(self) -> int: ...

    def batches(
        self, epoch: int | None, batch_size: int, shuffle: bool = True
    ) -> Iterator[torch.Tensor]:
        """An epoch's batches, augmented and (if ``shuffle``) in a per-epoch order;
        ``epoch=None``: the samples as they are, in order (validation)."""
        ...


def epoch_order(n: int, seed: int, epoch: int | None, shuffle: bool = True) -> np.ndarray:
    """Sample order of an epoch; seeded per epoch so a resumed run repeats it exactly."""
    if epoch is None or not shuffle:
        return np.arange(n)
    return np.random.default_rng((seed, epoch)).permutation(n)


class AugmentedImages:
    """Network-input batches of in-memory images, augmented with a per-epoch seed."""

    def __init__(self, images: InputImages, augment: tuple[str, ...], seed: int) -> None:
        self.images, self.augment, self.seed = images, augment, seed

    def __len__(self) -> int:
        return len(self.images)

    def batches(
        self, epoch: int | None, batch_size: int, shuffle: bool = True
    ) -> Iterator[torch.Tensor]:
        order = epoch_order(len(self), self.seed, epoch, shuffle)
        pipeline = None
        if epoch is not None:
            pipeline = build_augmentation(self.augment, seed=self.seed * 100_003 + epoch)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            raw = self.images.raw(idx)
            if pipeline is not None:
                raw = augment_batch(pipeline, raw)
            yield torch.from_numpy(self.images.normalise(raw, idx))


class CachedViews:
    """A fixed function of ``views`` augmented passes over a source, kept in memory.

    View 0 is the samples as they are; each training epoch draws every sample's view at
    random, so the model still sees a mix of augmentations at a fraction of the cost.
    Stored in fp16, which halves the memory of large feature maps.
    """

    def __init__(
        self,
        source: BatchSource,
        fn: Callable[[torch.Tensor], torch.Tensor],
        views: int,
        batch_size: int,
        seed: int,
    ) -> None:
        self.seed = seed
        stacks = []
        with torch.inference_mode():
            for view in range(views):
                # Epoch numbers no training run reaches: augmentation seeds of their own.
                epoch = None if view == 0 else VIEW_EPOCHS + view
                parts = [fn(b).half() for b in source.batches(epoch, batch_size, shuffle=False)]
                stacks.append(torch.cat(parts))
        self.data = torch.stack(stacks)  # (views, N, ...)

    def __len__(self) -> int:
        return self.data.shape[1]

    @property
    def views(self) -> int:
        return self.data.shape[0]

    def batches(
        self, epoch: int | None, batch_size: int, shuffle: bool = True
    ) -> Iterator[torch.Tensor]:
        n, views = len(self), self.views
        order = epoch_order(n, self.seed, epoch, shuffle)
        view = np.zeros(n, np.int64)
        if epoch is not None:
            view = np.random.default_rng((self.seed, epoch, 1)).integers(0, views, n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.data[torch.from_numpy(view[idx]), torch.from_numpy(idx)].float()
