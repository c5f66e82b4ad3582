"""The cnn-cluster family's settings and registration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.models.shared_config import BackboneConfig
from inspector.models.spec import FamilySpec, setting


@dataclass(frozen=True)
class CnnClusterConfig(BackboneConfig):
    """A memory of normal patch features; a patch's score is its distance to the memory."""

    projection_dim: int = setting(
        0, "PCA width of the patch features (0: no projection)", minimum=0
    )
    strategy: str = setting(
        "coreset", "how centres are chosen: coreset (greedy k-centre) or kmeans",
        choices=("coreset", "kmeans"),
    )  # fmt: skip
    memory_fraction: float = setting(0.1, "centres as a fraction of training patches", minimum=0.0)
    max_memory: int = setting(16_000, "upper bound on centres", minimum=1)
    # The exact search's cost grows with the memory; a coarse cover first keeps it bounded.
    coarse_memory: int = setting(
        2048, "centres in the coarse cover of the two-level search (0: exact search)", minimum=0
    )
    refine_patches: int = setting(
        128, "patches per image searched against the whole memory", minimum=0
    )
    # Bundles record their settings by name, so this one keeps its name.
    exact_beyond: float = setting(
        1.0,
        "also search the whole memory for every patch whose coarse distance exceeds this "
        "multiple of the farthest exact distance of a held-out good image's patch (the "
        "calibration images), so a defect of any size is mapped exactly. 0: only "
        "refine_patches per image",
        minimum=0.0,
    )
    max_patches: int = setting(
        400_000, "patch features kept for fitting (bounds memory on big sets)", minimum=1
    )
    kmeans_iterations: int = setting(10, "Lloyd iterations of the kmeans strategy", minimum=1)


SPEC = FamilySpec(
    name="cnn-cluster",
    description="pretrained CNN features, memory of normal patches (default; most accurate, "
    "fits in seconds)",
    config=CnnClusterConfig,
    trained=False,
    model="inspector.models.cnn_cluster:CnnClusterModel",
    fitter="training.fitters.cnn_cluster:FITTER",
)
