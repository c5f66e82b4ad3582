"""The model families by name, with what each is for (no torch: the GUI and --help use it).

``inspector.models`` registers the implementations; a test keeps the two lists equal.
"""

from __future__ import annotations

DEFAULT_FAMILY = "cnn-cluster"

FAMILIES: dict[str, str] = {
    "cnn-cluster": "pretrained CNN features, memory of normal patches (default; most accurate, "
    "fits in seconds)",
    "feature-ae": "pretrained CNN features rebuilt through an autoencoder (trains in minutes)",
    "feature-gan": "pretrained CNN features judged by a patch discriminator trained against "
    "synthesised anomalies (SimpleNet-style)",
    "ganomaly": "pixel GAN: encoder-decoder-encoder generator and patch critic (textbook "
    "GAN baseline)",
    "cae": "pixel autoencoder, no pretrained network (textbook baseline; colour and texture)",
}

# Settings files for kinds of product (``training/presets/NAME.toml``; a test keeps the two
# lists equal). Each names its family, so choosing a preset chooses the family too.
PRESETS: dict[str, str] = {
    "feature-ae-surface": "feature-ae for flat textured surfaces (tiles, sheet, fabric): "
    "predicts each patch from patches 64 px away, so a long crack or a wide uneven area is "
    "not continued from itself",
}
