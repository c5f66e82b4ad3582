"""The model families by name, with what each is for (no torch: the GUI and --help use it).

``inspector.models`` registers the implementations; a test keeps the two lists equal.
"""

from __future__ import annotations

DEFAULT_FAMILY = "cnn-cluster"

FAMILIES: dict[str, str] = {
    "cnn-cluster": "pretrained CNN features, memory of normal patches (default; most accurate, "
    "fits in seconds)",
    "feature-ae": "pretrained CNN features predicted from near and far neighbours "
    "(trains in minutes; finest maps)",
    "feature-gan": "pretrained CNN features judged by a patch discriminator trained against "
    "synthesised anomalies (SimpleNet-style)",
    "ganomaly": "pixel GAN: encoder-decoder-encoder generator and patch critic (textbook "
    "GAN baseline)",
    "cae": "pixel autoencoder, no pretrained network (textbook baseline; colour and texture)",
}

# Settings files for kinds of product (``training/presets/NAME.toml``; a test keeps the two
# lists equal). Each names its family, so choosing a preset chooses the family too.
PRESETS: dict[str, str] = {
    "feature-ae-surface": "feature-ae for flat textured surfaces (tiles, sheet, fabric) in "
    "about half the training time: only the default's far ring, which predicts each patch "
    "from patches 64 px away",
}
