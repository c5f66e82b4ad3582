"""CNN-feature deep clustering (PatchCore-style) anomaly model.

Normal appearance is remembered as a set of cluster centres in the space of pretrained
mid-level CNN patch features. A test patch's anomaly score is its Euclidean distance to the
nearest centre. The centres are chosen in ``training/`` (greedy k-centre coreset or k-means);
this module is only the exported inference graph.
"""

from __future__ import annotations

from typing import Any

import torch

from inspector.models.base import InferenceBatch
from inspector.models.features import StandardisedFeatures, aggregate_stages
from inspector.models.head import exporting

SEARCH_BLOCK = 1024  # centres per GEMM in the nearest-centre search
SEARCH_ROWS = 2048  # patches per GEMM in eager mode (an exported graph takes whole batches)
FAR = 1e30  # squared norm given to padding centres


class CnnClusterModel(StandardisedFeatures):
    """Nearest-centre distance of locally aggregated backbone features.

    Args:
        backbone: backbone spec as a dict (see ``BackboneSpec``).
        input_size: model input (height, width) in pixels.
        memory_size: number of cluster centres (set by fitting; needed to rebuild buffers).
        aggregation: per stage (or one value for all), the side of the square neighbourhood
            averaged around each feature, which makes a patch describe its surroundings and
            tolerates small misalignment. The default leaves the finest stage alone (1) and
            averages the coarser one over 3x3: averaging the finest stage too blurs away
            small defects.
        blur_sigma: Gaussian smoothing of the anomaly map, in input pixels.
        score_topk: image score = mean of the ``score_topk`` highest map values at patch
            resolution (1 = maximum). A few pixels average out isolated noisy patches.
        map_shift: (dy, dx) pixels by which the upsampled map is moved so that each patch's
            score lands where its receptive field is centred (measured when fitting; the
            backbone's strided convolutions put it several pixels up-left of the cell centre).
        projection_dim: if > 0, features are projected onto this many principal axes of the
            training patches (fitted PCA, one matmul): wide backbone features stay cheap to
            compare while keeping nearly all of their variance.
        coarse_size: if > 0, a two-level search: every patch is first measured against the
            first ``coarse_size`` centres (a coarse cover of the memory, multiple of
            SEARCH_BLOCK). Every patch whose coarse distance exceeds ``refine_above`` (set
            from held-out good images when fitting: beyond what good parts reach), and the
            ``refine_k`` most distant patches of each image, are then searched against the
            whole memory; the others get their coarse distance mapped by a straight line
            fitted on good patches (``coarse_fit``). The coarse
            distance is an upper bound of the exact one, so every patch farther from the
            memory than ``refine_above`` is exact, however many there are: a large defect is
            mapped as exactly as a small one, and the image score is exact.
        refine_k: patches per image always searched exactly in the two-level search.
        load_weights: load pretrained backbone weights (False when a bundle supplies them).
    """

    family = "cnn-cluster"
    projection: torch.Tensor | None
    memory: torch.Tensor
    memory_sq_norm: torch.Tensor
    search: torch.Tensor
    coarse_fit: torch.Tensor
    refine_above: torch.Tensor

    def __init__(
        self,
        backbone: dict | None = None,
        input_size: tuple[int, int] | list[int] = (256, 256),
        memory_size: int = 1,
        aggregation: int | tuple[int, ...] | list[int] = (1, 3),
        blur_sigma: float = 4.0,
        score_topk: int = 1,
        projection_dim: int = 0,
        map_shift: tuple[int, int] | list[int] = (0, 0),
        coarse_size: int = 0,
        refine_k: int = 0,
        load_weights: bool = True,
    ) -> None:
        super().__init__(
            backbone, input_size, aggregation, blur_sigma, score_topk, map_shift, load_weights
        )
        dim = self.dim
        self.projection_dim = int(projection_dim)
        if self.projection_dim > 0:
            self.register_buffer("projection", torch.eye(dim, self.projection_dim))
            dim = self.projection_dim
        else:
            self.projection = None
        self.feature_dim = dim
        self.register_buffer("memory", torch.zeros(int(memory_size), dim))
        self.register_buffer("memory_sq_norm", torch.zeros(int(memory_size)))
        if coarse_size % SEARCH_BLOCK:
            raise ValueError(f"coarse_size must be a multiple of {SEARCH_BLOCK}")
        self.coarse_size, self.refine_k = int(coarse_size), int(refine_k)
        # (slope, intercept): full-memory distance estimated from the coarse distance.
        self.register_buffer("coarse_fit", torch.tensor([1.0, 0.0]))
        # Coarse distance above which a patch is always searched exactly (FAR: only the
        # refine_k per image, until fitting sets it).
        self.register_buffer("refine_above", torch.tensor(FAR))
        # Derived from the memory, rebuilt on every load: [-2 M^T; |m|^2] in column blocks,
        # shape (K, D + 1, SEARCH_BLOCK).
        self.register_buffer("search", self._search_matrix(), persistent=False)
        self.register_load_state_dict_post_hook(lambda module, _: module._refresh_search())

    def config(self) -> dict[str, Any]:
        return {
            **self.feature_config(),
            "memory_size": int(self.memory.shape[0]),
            "projection_dim": self.projection_dim,
            "coarse_size": self.coarse_size,
            "refine_k": self.refine_k,
        }

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised (and projected) patch features, shape (B, D, h, w), float32.

        Under fp16 autocast only the backbone runs in half precision: squared distances of
        standardised 150-dimensional features reach the thousands, and the search matrix
        holds |m|^2 and padding values far beyond fp16's 65,504, so everything after the
        backbone stays fp32.
        """
        feats = self.aggregate(images)
        with torch.autocast(feats.device.type, enabled=False):
            return self.transform(feats.float())

    def aggregate(self, images: torch.Tensor) -> torch.Tensor:
        """Raw locally averaged features of all stages at the finest stage's resolution."""
        return aggregate_stages(self.extractor(images), self.aggregation)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise (and project) raw features laid out as (B, D, h, w)."""
        x = (x - self.feature_mean.view(1, -1, 1, 1)) / self.feature_scale.view(1, -1, 1, 1)
        if self.projection is not None:
            x = torch.einsum("bdhw,dp->bphw", x, self.projection)
        return x

    def set_memory(self, centres: torch.Tensor) -> None:
        """Install fitted cluster centres (standardised feature space)."""
        centres = centres.detach().to(torch.float32).contiguous()
        self.memory = centres
        self.memory_sq_norm = (centres * centres).sum(dim=1)
        self._refresh_search()

    def _search_matrix(self) -> torch.Tensor:
        full = torch.cat([-2.0 * self.memory.t(), self.memory_sq_norm.unsqueeze(0)])
        k = max(1, -(-full.shape[1] // SEARCH_BLOCK))
        # Padding centres sit "infinitely" far away: zero features, a huge |m|^2 (finite in
        # fp32 so no 0 * inf appears in the product).
        pad = k * SEARCH_BLOCK - full.shape[1]
        if pad:
            filler = torch.zeros(full.shape[0], pad, dtype=full.dtype)
            filler[-1] = FAR
            full = torch.cat([full, filler], dim=1)
        return full.view(full.shape[0], k, SEARCH_BLOCK).permute(1, 0, 2).contiguous()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any) -> None:
        # A bundle fitted without the bound carries none: it means "off", not a bad file.
        state_dict.setdefault(prefix + "refine_above", torch.tensor(FAR))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def _refresh_search(self) -> None:
        self.search = self._search_matrix()

    def set_feature_stats(
        self, mean: torch.Tensor, scale: torch.Tensor, projection: torch.Tensor | None = None
    ) -> None:
        """Install standardisation statistics and, if configured, the PCA projection."""
        self.feature_mean = mean.detach().to(torch.float32).clone()
        self.feature_scale = scale.detach().to(torch.float32).clamp_min(1e-6).clone()
        if self.projection is not None:
            want = tuple(self.projection.shape)
            if projection is None or tuple(projection.shape) != want:
                raise ValueError(f"projection must have shape {want}")
            self.projection = projection.detach().to(torch.float32).contiguous()

    def patch_scores(self, emb: torch.Tensor) -> torch.Tensor:
        """Distance of every patch to its nearest centre, shape (B, 1, h, w).

        With a two-level search, the coarse distance (to a subset of the memory) is never
        below the exact one. Patches refined: those whose coarse distance exceeds
        ``refine_above`` (so every patch whose exact distance does) plus each image's
        ``refine_k`` largest; their number follows the data (NonZero in ONNX), which is what
        keeps the map exact on a defect of any size. The rest keep the line estimate, capped
        at the coarse bound.
        """
        b, d, h, w = emb.shape
        x = emb.permute(0, 2, 3, 1).reshape(-1, d)
        n_blocks = self.search.shape[0]
        coarse_blocks = self.coarse_size // SEARCH_BLOCK
        if not (0 < coarse_blocks < n_blocks and self.refine_k > 0):
            return self._nearest(x, self.search).view(b, 1, h, w)
        coarse = self._nearest(x, self.search[:coarse_blocks])
        k = min(self.refine_k, h * w)
        if float(self.refine_above) >= FAR:
            # Bound off: k patches per image, a graph of static shapes.
            top = coarse.view(b, h * w).topk(k, dim=1).indices
            offset = torch.arange(b, device=x.device).unsqueeze(1) * (h * w)
            rows = (top + offset).flatten()
        else:
            kth = coarse.view(b, h * w).topk(k, dim=1).values[:, -1:]
            need = (coarse.view(b, h * w) >= kth) | (coarse.view(b, h * w) > self.refine_above)
            rows = need.flatten().nonzero().squeeze(1)
        # The coarse centres are the memory's first blocks: only the rest is searched again.
        rest = self._nearest(x.index_select(0, rows), self.search[coarse_blocks:])
        exact = torch.minimum(coarse.index_select(0, rows), rest)
        estimate = torch.minimum(coarse * self.coarse_fit[0] + self.coarse_fit[1], coarse)
        return estimate.scatter(0, rows, exact).view(b, 1, h, w)

    def _nearest(self, x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        """Distance from each row of ``x`` (N, D) to its nearest centre in ``blocks``."""
        if x.shape[0] > SEARCH_ROWS and not exporting():
            # Big batches: same arithmetic in row chunks, for the same memory reason.
            d2 = torch.cat([self._nearest_sq(part, blocks) for part in x.split(SEARCH_ROWS)])
        else:
            d2 = self._nearest_sq(x, blocks)
        return d2.clamp_min(0.0).sqrt()

    @staticmethod
    def _nearest_sq(x: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        """Squared distance from each row of ``x`` (N, D) to its nearest centre."""
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        x1 = torch.cat([x, ones], dim=1)
        best = (x1 @ blocks[0]).amin(dim=1)  # |m|^2 - 2 x.m, nearest in this block
        for k in range(1, blocks.shape[0]):
            best = torch.minimum(best, (x1 @ blocks[k]).amin(dim=1))
        return best + (x * x).sum(dim=1)

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        return self.from_features(self.aggregate(images), images)

    def from_features(self, feats: torch.Tensor, images: torch.Tensor) -> InferenceBatch:
        """The output from raw aggregated features (``aggregate``), so a model that runs the
        backbone once for several heads (fusion) gives exactly this model's output."""
        with torch.autocast(feats.device.type, enabled=False):
            # Nearest-centre search, image score and map: fp32 whatever the backbone ran in.
            patch = self.patch_scores(self.transform(feats.float()))
        return self.head(patch, images)
