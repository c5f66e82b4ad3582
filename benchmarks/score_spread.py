"""How a trained bundle's image scores spread on each kind of image of an MVTec-layout set.

Usage: python benchmarks/score_spread.py BUNDLE DATA

Scores the good images the bundle calibrated on (its held-out share, split again with the
bundle's own holdout and seed), as many of the good images it was fitted on, the test set's
good images and its defective ones, and prints each group's median, 90th percentile and
maximum beside the bundle's threshold. It answers the question an AUROC cannot: when a
model ranks the test set well but its calibrated threshold misses most defects, do the
test set's good parts score unlike the good parts it was trained and calibrated on?
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from inspector.runtime import Inspector
from training.data import good_images, mvtec_test_set, split_holdout


def spread(insp: Inspector, files: list[Path]) -> np.ndarray:
    return np.array([insp.inspect(f).score for f in files], np.float64)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("data", type=Path, help="folder with train/good and test/<type>/")
    args = p.parse_args()
    insp = Inspector.load(args.bundle)
    settings = insp.meta.training.get("settings", {})
    fit, held = split_holdout(
        good_images(args.data), settings.get("holdout", 0.2), seed=settings.get("seed", 0)
    )
    test = mvtec_test_set(args.data)
    groups = {
        "calibration (held-out good)": held,
        "fitted good (as many)": fit[: len(held)],
        "test good": [t.path for t in test if not t.is_anomalous],
        "test defective": [t.path for t in test if t.is_anomalous],
    }
    print(f"image threshold {insp.thresholds.image:.3f}")
    print(f"{'group':30s} {'n':>4s} {'median':>7s} {'p90':>7s} {'max':>7s} {'> thr':>6s}")
    for name, files in groups.items():
        s = spread(insp, files)
        above = float(np.mean(s > insp.thresholds.image))
        print(
            f"{name:30s} {s.size:4d} {np.median(s):7.3f} {np.quantile(s, 0.9):7.3f} "
            f"{s.max():7.3f} {above:6.1%}"
        )


if __name__ == "__main__":
    main()
