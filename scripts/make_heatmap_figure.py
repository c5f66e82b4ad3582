"""Render docs/heatmap_example.png: sample defects with their anomaly heatmaps.

Usage: python scripts/make_heatmap_figure.py BUNDLE_DIR PRODUCT_DIR [OUT.png]
(``./run.sh demo`` leaves bundles in out/demo/models/<product>.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from inspector.folder import map_display_range
from inspector.imageio import read_image, to_uint8
from inspector.overlay import draw_regions, heatmap_overlay
from inspector.runtime import Inspector


def main() -> int:
    bundle, product = Path(sys.argv[1]), Path(sys.argv[2])
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("docs/heatmap_example.png")
    insp = Inspector.load(bundle)
    low, high = map_display_range(insp)
    defects = sorted(p for p in (product / "test").iterdir() if p.name != "good")
    tiles = []
    for d in defects[:4]:
        path = sorted(d.iterdir())[0]
        image = to_uint8(read_image(path))
        r = insp.inspect(image)
        over = draw_regions(heatmap_overlay(image, r.anomaly_map, low, high), r.regions)
        label = f"{d.name}: {r.verdict} {r.normalized_score:.2f}"
        pair = np.concatenate([image, over], axis=0)
        cv2.putText(
            pair, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA
        )
        tiles.append(np.pad(pair, ((0, 0), (0, 6), (0, 0)), constant_values=255))
    sheet = np.concatenate(tiles, axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
