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
    Stored in fp16, which halves the memory of large feature maps. With per-position loss
    weights attached (``attach_weights``), every batch carries them as one extra last
    channel, so they travel wherever the batch goes (see ``training.fitters.rarity``).
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
        self.weights: torch.Tensor | None = None

    def attach_weights(self, weights: torch.Tensor) -> None:
        """Per-sample-position weights (views, N, 1, ...) appended to every batch."""
        if weights.shape[:2] != self.data.shape[:2] or weights.shape[3:] != self.data.shape[3:]:
            raise ValueError(f"weights {tuple(weights.shape)} do not fit {tuple(self.data.shape)}")
        self.weights = weights.to(self.data.dtype)

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
            pick = torch.from_numpy(view[idx]), torch.from_numpy(idx)
            batch = self.data[pick]
            if self.weights is not None:
                batch = torch.cat([batch, self.weights[pick]], dim=1)
            yield batch.float()


class SampledPositions:
    """Single positions of cached feature maps, drawn in proportion to their weights.

    For heads that judge every position alone (1x1 convolutions, as the feature GAN's
    discriminator): a batch is ``batch_size`` images' worth of positions, packed as that
    many (C, h, w) maps of unrelated positions, drawn with replacement from all views with
    probability proportional to each position's attached weight. Drawing rare kinds of
    patch more often teaches such a head more than weighting them in the loss of
    whole-image batches, where a batch holds few of them (MVTec screw, feature GAN: 0.837
    weighted loss, 0.876 drawn, exploratory runs on cached features). The drawn positions
    carry weight 1: the drawing has applied theirs.
    """

    def __init__(self, views: CachedViews) -> None:
        if views.weights is None:
            raise ValueError("positions are drawn by weight: attach weights first")
        self.views = views
        # Drawn by inverting the cumulative weight: no limit on the number of positions
        # (torch.multinomial takes at most 2**24 categories).
        self.cumulative = views.weights.flatten().double().cumsum(0)

    def __len__(self) -> int:
        return len(self.views)

    def batches(
        self, epoch: int | None, batch_size: int, shuffle: bool = True
    ) -> Iterator[torch.Tensor]:
        data = self.views.data
        v, n, c, h, w = data.shape
        rng = np.random.default_rng((self.views.seed, -1 if epoch is None else epoch, 2))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        total = self.cumulative[-1]
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start) * h * w
            u = torch.rand(count, generator=gen, dtype=torch.float64) * total
            flat = torch.searchsorted(self.cumulative, u).clamp_max(len(self.cumulative) - 1)
            view, image, y, x = torch.unravel_index(flat, (v, n, h, w))
            feats = data[view, image, :, y, x]  # (count, c)
            ones = torch.ones(count, 1, dtype=feats.dtype)
            drawn = torch.cat([feats, ones], dim=1).float()
            # Packed into image-shaped maps: the same positions to a per-position head, and
            # 1x1 convolutions run about 20 % faster on (B, C, h, w) than on (B*h*w, C, 1, 1).
            yield drawn.view(-1, h, w, c + 1).permute(0, 3, 1, 2).contiguous()
