"""Generate the synthetic sample inspection dataset in MVTec AD layout.

Usage: ``python sample_images/generate.py [--out DIR]``. Each image has its own fixed-seed
RNG (keyed by product, split, index), so output is byte-reproducible and changing one count
does not reshuffle the rest. Masks are not drawn separately: each defective image is rendered
with and without its defect, and the mask is wherever the two differ.
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

SIZE = 256
N_TRAIN_GOOD = 40
N_TEST_GOOD = 10
N_PER_DEFECT = 6
# Huffman-only beats LZ77 on sensor-noisy photos: smaller, ~40x faster. Masks keep default.
PHOTO_PNG = [
    cv2.IMWRITE_PNG_COMPRESSION,
    9,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
]
MASK_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 9]
# A change smaller than this (0-255 scale) is invisible under the sensor noise.
MASK_THRESHOLD = 4.0
# Light comes from the upper left (image y points down).
LIGHT = np.array([-0.62, -0.78])

Y, X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
Image = np.ndarray  # float64 HxWx3, BGR, 0..255


def smooth_noise(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    sx: float,
    sy: float | None = None,
    density: float = 1.0,
) -> np.ndarray:
    """Unit-variance Gaussian noise blurred by (sx, sy) px; ``density`` < 1 makes it sparse.

    Wide blurs run on a coarse grid and are upsampled: ~10x faster, looks the same.
    """
    sy = sy or sx
    fx, fy = max(1, int(sx / 3)), max(1, int(sy / 3))
    small = (shape[0] // fy, shape[1] // fx, *shape[2:])
    n = rng.standard_normal(small)
    if density < 1.0:
        n *= rng.random(small) < density
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=sx / fx, sigmaY=sy / fy)
    if (fx, fy) != (1, 1):
        n = cv2.resize(n, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return n / (n.std() + 1e-12)


def rotated(cx: float, cy: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in a frame centred on (cx, cy) and rotated by ``angle`` rad."""
    c, s = math.cos(angle), math.sin(angle)
    return c * (X - cx) + s * (Y - cy), -s * (X - cx) + c * (Y - cy)


def blob(
    rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, rough: float = 0.25
) -> np.ndarray:
    """Soft irregular blob alpha in [0, 1]: an ellipse with a noisy outline."""
    u, v = rotated(cx, cy, rng.uniform(0, math.pi))
    d = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    wobble = smooth_noise(rng, (SIZE, SIZE), max(2.0, 0.4 * min(rx, ry))) * rough
    return np.clip((1.0 - d + wobble) / 0.3, 0.0, 1.0)


def wander(
    rng: np.random.Generator,
    start: np.ndarray,
    angle: float,
    length: float,
    step: float,
    jitter: float,
) -> np.ndarray:
    """Random-walk polyline: ``jitter`` (rad per step) sets how jagged it is."""
    pts = [np.asarray(start, dtype=np.float64)]
    for _ in range(max(2, int(length / step))):
        angle += rng.normal(0.0, jitter)
        pts.append(pts[-1] + step * np.array([math.cos(angle), math.sin(angle)]))
    return np.array(pts)


def stroke(pts: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Anti-aliased polyline coverage in [0, 1]; 4 fractional bits keep sub-pixel paths."""
    canvas = np.zeros((SIZE, SIZE), np.uint8)
    cv2.polylines(
        canvas, [np.round(pts * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4
    )
    return canvas / 255.0


def diff_mask(good: Image, bad: Image) -> np.ndarray:
    """Binary 0/255 mask of where the defect changed the image, with gaps closed."""
    m = (np.abs(bad - good).max(axis=2) > MASK_THRESHOLD).astype(np.uint8) * 255
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(m, contours, -1, 255, cv2.FILLED)
    return m


def metal_plate(rng: np.random.Generator) -> Image:
    """Brushed steel filling the frame, shifted/rotated a little per image."""
    big = 400  # rendered larger so the rotated crop never shows a border
    lum = 6.0 * smooth_noise(rng, (big, big), 45.0, 0.7) + 3.5 * smooth_noise(
        rng, (big, big), 12.0, 0.9
    )
    # A few deeper brush marks run almost the full width.
    lum += 2.0 * smooth_noise(rng, (big, big), 70.0, 0.6, density=0.03)
    m = cv2.getRotationMatrix2D((big / 2, big / 2), rng.uniform(-3.0, 3.0), 1.0)
    m[:, 2] += rng.uniform(-25, 25, 2) - (big - SIZE) / 2
    lum = cv2.warpAffine(lum, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    lum += 1.4 * smooth_noise(rng, (SIZE, SIZE), 0.8) + 3.0 * smooth_noise(rng, (SIZE, SIZE), 35.0)
    # Uneven lighting: a tilt plus a soft hot spot, both varying per image.
    g = rng.uniform(0, 2 * math.pi)
    tilt = rng.uniform(0.04, 0.10) * ((X - 128) * math.cos(g) + (Y - 128) * math.sin(g)) / 128
    hx, hy = rng.uniform(40, 216, 2)
    hot = 0.10 * np.exp(-((X - hx) ** 2 + (Y - hy) ** 2) / (2 * 90.0**2))
    lum = (rng.uniform(138, 150) + lum) * (1.0 + tilt + hot)
    return lum[..., None] * np.array([1.03, 1.0, 0.965])  # steel reads slightly blue


def _spot(rng: np.random.Generator, margin: float) -> tuple[float, float]:
    return float(rng.uniform(margin, SIZE - margin)), float(rng.uniform(margin, SIZE - margin))


def metal_scratch(img: Image, rng: np.random.Generator) -> Image:
    """Thin, slightly curved bright or dark line whose depth varies along its length."""
    length = rng.uniform(40, 130)
    # Keep clear of the brushing direction, where a scratch would be hard to tell apart.
    angle = rng.uniform(0.25, math.pi - 0.25) + math.pi * int(rng.integers(2))
    start = np.array(_spot(rng, 30)) - 0.5 * length * np.array([math.cos(angle), math.sin(angle)])
    pts = np.clip(wander(rng, start, angle, length, 2.0, 0.03), 2, SIZE - 3)
    alpha = stroke(pts, int(rng.integers(1, 3)))
    alpha *= np.clip(0.75 + 0.35 * smooth_noise(rng, (SIZE, SIZE), 10.0), 0.3, 1.0)
    contrast = rng.uniform(45, 70) * (1 if rng.random() < 0.65 else -0.8)
    return img + (alpha * contrast)[..., None]


def metal_dent(img: Image, rng: np.random.Generator) -> Image:
    """Shallow dent: shaded walls plus brush lines bent by the deformation."""
    cx, cy = _spot(rng, 30)
    rx = rng.uniform(7, 15)
    u, v = rotated(cx, cy, rng.uniform(0, math.pi))
    h = -np.exp(-((u / rx) ** 2 + (v / (rx * rng.uniform(0.55, 1.0))) ** 2))
    hy, hx = np.gradient(h)
    shade = -rng.uniform(40, 60) * (hx * LIGHT[0] + hy * LIGHT[1]) * rx / 0.86
    warp = 0.35 * rx * rx
    mx, my = (X + hx * warp).astype(np.float32), (Y + hy * warp).astype(np.float32)
    bent = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return bent + (shade + 8.0 * h)[..., None]


def metal_hole(img: Image, rng: np.random.Generator) -> Image:
    """Small pit: dark interior, lit far wall and a raised burr on the rim."""
    cx, cy = _spot(rng, 20)
    r = rng.uniform(3.0, 7.0)
    u, v = rotated(cx, cy, rng.uniform(0, math.pi))
    d = np.sqrt(u**2 + (v * rng.uniform(1.0, 1.5)) ** 2) - r  # signed distance, px
    inside = np.clip(0.5 - d, 0.0, 1.0)
    facing = ((X - cx) * LIGHT[0] + (Y - cy) * LIGHT[1]) / (np.hypot(X - cx, Y - cy) + 1e-6)
    wall = 30.0 + 25.0 * np.clip(-facing, 0.0, 1.0)  # the wall opposite the light is lit
    burr = np.exp(-(((d - 1.0) / 0.9) ** 2)) * 30.0 * facing
    out = img * (1 - inside[..., None]) + (wall * inside)[..., None] * np.array([1.02, 1.0, 0.96])
    return out + (burr * (1 - inside))[..., None]


def metal_stain(img: Image, rng: np.random.Generator) -> Image:
    """Rust or oil contamination: translucent tint with a darker drying ring."""
    rx = rng.uniform(9, 24)
    a = blob(rng, *_spot(rng, 30), rx, rx * rng.uniform(0.5, 1.0), rough=0.35)
    patchy = np.clip(0.8 + 0.3 * smooth_noise(rng, (SIZE, SIZE), 3.0), 0.4, 1.0)
    alpha = a * patchy * rng.uniform(0.4, 0.65) + 1.2 * a * (1 - a) * rng.uniform(0.2, 0.5)
    tint = np.array([0.35, 0.62, 0.9] if rng.random() < 0.6 else [0.5, 0.48, 0.45])  # rust/oil
    return img * (1 - alpha[..., None] * (1 - tint))


R_OUT, R_HUB, R_BORE, PITCH, R_HOLE, CHAMFER = 88.0, 46.0, 24.0, 67.0, 8.5, 2.5


@dataclass(frozen=True)
class Part:
    """Pose, lighting and texture of one flange; defects edit it or paint over it."""

    cx: float
    cy: float
    angle: float
    gain: float
    light: float
    rings: np.ndarray  # 1-D turning-mark profile indexed by radius
    mottle: np.ndarray
    missing_hole: int = -1
    cut: np.ndarray | None = None  # signed distance of chipped-away material


def part_scene(rng: np.random.Generator) -> Part:
    """Sample a good flange with a few px / degrees of pose jitter."""
    prof = np.convolve(rng.standard_normal(420), np.exp(-0.125 * np.arange(-6, 7) ** 2), "same")
    return Part(
        cx=128 + rng.uniform(-4, 4),
        cy=128 + rng.uniform(-4, 4),
        angle=math.radians(rng.uniform(-4, 4)),
        gain=rng.uniform(0.92, 1.06),
        light=math.atan2(LIGHT[1], LIGHT[0]) + math.radians(rng.uniform(-12, 12)),
        rings=prof / prof.std(),
        mottle=smooth_noise(rng, (SIZE, SIZE), 30.0),
    )


def part_sdf(p: Part) -> np.ndarray:
    """Signed distance to the part outline (negative inside material), px."""
    u, v = rotated(p.cx, p.cy, p.angle)
    r = np.hypot(u, v)
    # Keyway: a notch in the bore along +u, so the rotation is visible.
    qx, qy = np.abs(u - R_BORE) - 6.0, np.abs(v) - 4.0
    key = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)
    sdf = np.maximum(r - R_OUT, -np.minimum(r - R_BORE, key))
    for k in range(6):
        if k != p.missing_hole:
            a = (k + 0.5) * math.pi / 3  # holes sit between the keyway axes
            hx, hy = PITCH * math.cos(a), PITCH * math.sin(a)
            sdf = np.maximum(sdf, R_HOLE - np.hypot(u - hx, v - hy))
    return sdf if p.cut is None else np.maximum(sdf, -p.cut)


def render_part(p: Part) -> Image:
    """Turned aluminium flange with six bolt holes on a dark matte backdrop."""
    sdf = part_sdf(p)
    cov = np.clip(0.5 - sdf, 0.0, 1.0)
    r = np.hypot(X - p.cx, Y - p.cy)
    phi = np.arctan2(Y - p.cy, X - p.cx)
    lx, ly = math.cos(p.light), math.sin(p.light)
    # Turned surfaces show a bow-tie highlight across the light direction.
    metal = 150.0 + 30.0 * np.cos(phi - p.light - math.pi / 2) ** 4 + 2.5 * p.mottle
    metal += 3.0 * np.interp(r * 2.0, np.arange(p.rings.size), p.rings)
    step = np.exp(-(((r - R_HUB) / 1.1) ** 2))  # raised hub edge faces outward
    metal += 8.0 * (r < R_HUB) - 28.0 * step * ((X - p.cx) * lx + (Y - p.cy) * ly) / (r + 1e-6)
    gy, gx = np.gradient(sdf)
    band = np.clip(1.0 + sdf / CHAMFER, 0.0, 1.0) * (sdf < 0.5)
    metal += 55.0 * band * (gx * lx + gy * ly)
    if p.cut is not None:  # fresh fracture face is rough and dull
        metal -= 25.0 * np.clip(1.0 - p.cut / -3.0, 0.0, 1.0) * (p.cut > -3.0) * (p.cut < 0.5)
    metal = (metal * p.gain)[..., None] * np.array([1.02, 1.0, 0.97])
    shadow = cv2.GaussianBlur(np.roll(cov, (5, 4), axis=(0, 1)), (0, 0), 4.0)
    bg = 58.0 + 4.0 * p.mottle[::-1] + 10.0 * (Y / SIZE)
    bg = (bg * (1.0 - 0.55 * shadow) * p.gain)[..., None] * np.array([1.12, 1.0, 0.9])
    return bg * (1 - cov[..., None]) + metal * cov[..., None]


def _on_material(p: Part, rng: np.random.Generator, clearance: float) -> tuple[float, float]:
    sdf = part_sdf(p)
    while True:
        x, y = rng.uniform(p.cx - R_OUT, p.cx + R_OUT, 2)
        if sdf[int(y), int(x)] < -clearance:
            return float(x), float(y)


def part_missing_hole(p: Part, rng: np.random.Generator) -> Image:
    """One bolt hole was never drilled."""
    return render_part(replace(p, missing_hole=int(rng.integers(6))))


def part_chip(p: Part, rng: np.random.Generator) -> Image:
    """Material broken off the outer rim or the edge of a bolt hole."""
    cr = rng.uniform(4, 9)
    if rng.random() < 0.6:
        a, dist = rng.uniform(0, 2 * math.pi), R_OUT + cr * rng.uniform(0.1, 0.5)
    else:
        a = p.angle + (int(rng.integers(6)) + 0.5) * math.pi / 3 + rng.uniform(-0.12, 0.12)
        dist = PITCH + R_HOLE * rng.choice([-1, 1])
    x, y = p.cx + dist * math.cos(a), p.cy + dist * math.sin(a)
    cut = np.hypot(X - x, Y - y) - cr + 1.3 * smooth_noise(rng, (SIZE, SIZE), 1.5)
    return render_part(replace(p, cut=cut))


def part_crack(p: Part, rng: np.random.Generator) -> Image:
    """Hairline crack running in from the rim or a bolt hole."""
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * math.pi)
        start, heading = (R_OUT - 1.0) * np.array([math.cos(a), math.sin(a)]), a + math.pi
    else:
        a = p.angle + (int(rng.integers(6)) + 0.5) * math.pi / 3
        centre = PITCH * np.array([math.cos(a), math.sin(a)])
        b = rng.uniform(0, 2 * math.pi)
        start, heading = centre + (R_HOLE + 1.0) * np.array([math.cos(b), math.sin(b)]), b
    start = start + np.array([p.cx, p.cy])
    pts = wander(rng, start, heading + rng.uniform(-0.5, 0.5), rng.uniform(14, 34), 1.5, 0.35)
    alpha = stroke(pts)
    if rng.random() < 0.5:
        i = int(rng.integers(len(pts) // 3, len(pts)))
        alpha = np.maximum(alpha, 0.8 * stroke(wander(rng, pts[i], heading + 0.8, 9, 1.5, 0.4)))
    alpha *= np.clip(0.5 - part_sdf(p), 0.0, 1.0)
    return render_part(p) * (1 - 0.65 * alpha[..., None])


def part_contamination(p: Part, rng: np.random.Generator) -> Image:
    """Foreign matter on the face: a grease smear, a fibre or a cluster of grit."""
    img = render_part(p)
    x, y = _on_material(p, rng, 8.0)
    kind = int(rng.integers(3))
    if kind == 0:
        rx = rng.uniform(5, 11)
        alpha, colour = 0.75 * blob(rng, x, y, rx, rx * rng.uniform(0.5, 1)), [0.3, 0.33, 0.38]
    elif kind == 1:
        # Textile fibres are long and loopy; cracks are short and jagged.
        pts = wander(
            rng, np.array([x, y]), rng.uniform(0, 2 * math.pi), rng.uniform(40, 70), 1.5, 0.18
        )
        colour = [[0.55, 0.3, 0.25], [0.2, 0.2, 0.6]][int(rng.integers(2))]  # blue/red
        alpha = 0.9 * stroke(pts)
    else:
        alpha = np.zeros((SIZE, SIZE))
        for _ in range(int(rng.integers(4, 9))):
            rr, (dx, dy) = rng.uniform(1.0, 2.6), rng.normal(0, 5, 2)
            alpha = np.maximum(alpha, blob(rng, x + dx, y + dy, rr, rr, rough=0.15))
        colour = [0.25, 0.3, 0.35]
    alpha = alpha * np.clip(0.5 - part_sdf(p), 0.0, 1.0)
    return img * (1 - alpha[..., None] * (1 - np.array(colour)))


@dataclass(frozen=True)
class Product:
    """How to draw one product: a good scene, its rendering, and its defects."""

    name: str
    scene: Callable[[np.random.Generator], object]
    render: Callable[[object], Image]
    defects: dict[str, Callable[[object, np.random.Generator], Image]]


PRODUCTS = [
    Product(
        "metal_plate",
        metal_plate,
        lambda img: img,
        {"scratch": metal_scratch, "dent": metal_dent, "hole": metal_hole, "stain": metal_stain},
    ),
    Product(
        "moulded_part",
        part_scene,
        render_part,
        {
            "missing_hole": part_missing_hole,
            "chip": part_chip,
            "crack": part_crack,
            "contamination": part_contamination,
        },
    ),
]


def finish(img: Image, rng: np.random.Generator) -> np.ndarray:
    """Add mildly smoothed sensor noise (compresses far better than white) and quantise."""
    noisy = img + 0.7 * smooth_noise(rng, (SIZE, SIZE, 3), 0.7)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def make(prod_idx: int, split: int, idx: int, defect: str | None) -> tuple[np.ndarray, ...]:
    """Draw one image (and its mask for a defect), seeded only by its own identity."""
    product = PRODUCTS[prod_idx]
    scene = product.scene(np.random.default_rng([prod_idx, split, idx, 0]))
    good = product.render(scene)
    noise_rng = np.random.default_rng([prod_idx, split, idx, 2])
    if defect is None:
        return (finish(good, noise_rng),)
    bad = product.defects[defect](scene, np.random.default_rng([prod_idx, split, idx, 1]))
    return finish(bad, noise_rng), diff_mask(good, bad)


def write(path: Path, img: np.ndarray, params: list[int] = PHOTO_PNG) -> None:
    """Write a PNG, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img, params):
        raise OSError(f"could not write {path}")


def tile(img: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """128 px contact-sheet tile with a white border, the mask outlined in red if given."""
    t = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
    if mask is not None:
        small = cv2.resize(mask, (128, 128), interpolation=cv2.INTER_NEAREST)
        cs, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(t, cs, -1, (0, 0, 255), 1)
    return np.pad(t, ((4, 4), (4, 4), (0, 0)), constant_values=255)


def generate(out: Path) -> None:
    """Clear and regenerate every product folder (and overview.png) under ``out``."""
    sheet: list[np.ndarray] = []
    for p_idx, product in enumerate(PRODUCTS):
        root = out / product.name
        shutil.rmtree(root, ignore_errors=True)
        row: list[np.ndarray] = []
        for i in range(N_TRAIN_GOOD):
            write(root / "train" / "good" / f"{i:03d}.png", make(p_idx, 0, i, None)[0])
        for i in range(N_TEST_GOOD):
            img = make(p_idx, 1, i, None)[0]
            write(root / "test" / "good" / f"{i:03d}.png", img)
            if i < 2:
                row.append(tile(img))
        for d_idx, name in enumerate(product.defects):
            for i in range(N_PER_DEFECT):
                img, mask = make(p_idx, 2 + d_idx, i, name)
                write(root / "test" / name / f"{i:03d}.png", img)
                write(root / "ground_truth" / name / f"{i:03d}_mask.png", mask, MASK_PNG)
                if i == 0:
                    row += [tile(img), tile(img, mask)]
        sheet.append(np.hstack(row))
    write(out / "overview.png", np.vstack(sheet), MASK_PNG)


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="dataset root (default: the folder this script is in)",
    )
    generate(ap.parse_args().out)


if __name__ == "__main__":
    main()
