"""Drift and camera-health monitoring of a line station, per recipe.

Lighting ages, cameras move, materials change: good parts then look different from the ones
the model was calibrated on, long before verdicts go wrong. For every good (OK) part the
monitor tracks its image statistics (brightness = mean grey level, contrast = standard
deviation of grey, sharpness = log of the variance of the Laplacian, a focus measure) and its model
score, each against the mean and spread stored at calibration.

Method: an EWMA control chart per quantity (Roberts 1959; NIST/SEMATECH e-Handbook 6.3.2.4).
``z_t = lambda * x_t + (1 - lambda) * z_(t-1)``, starting at the calibration mean; a warning is
raised when ``|z_t - mean| > L * sigma * sqrt(lambda / (2 - lambda))`` and cleared when it is
back within half that. The defaults lambda = 0.02 and L = 4 average about the last 50 good
parts, which keeps single odd parts (a heavy tail is common in real image statistics) from
tripping the chart, and still catch a step of one sigma in about 25 parts. The score chart
is one-sided (only rising scores are drift); image statistics are two-sided. sigma has a
floor (`min_rel_sigma` of the mean) so a calibration set of nearly identical images does not
make the chart trip on noise.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

QUANTITIES = ("brightness", "contrast", "sharpness", "score")
HISTORY = 2000  # EWMA values kept per chart for a trend plot (a long run stays bounded)


def image_stats(image: np.ndarray) -> dict[str, float]:
    """Brightness, contrast (0..255 grey scale) and sharpness of an RGB or grey image."""
    scale = 255.0 / 65535.0 if image.dtype == np.uint16 else 1.0
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.float32) * scale
    return {
        "brightness": float(gray.mean()),
        "contrast": float(gray.std()),
        # log: the Laplacian's variance is a scale (it doubles with contrast), and its spread
        # over good parts is skewed; its log is near-normal, as the chart assumes.
        "sharpness": float(np.log(cv2.Laplacian(gray, cv2.CV_32F).var() + 1e-6)),
    }


@dataclass(frozen=True)
class Reference:
    """Mean and standard deviation of one quantity on good parts at calibration."""

    mean: float
    std: float


@dataclass(frozen=True)
class Calibration:
    """What good parts looked like when the recipe was calibrated."""

    references: Mapping[str, Reference]

    @classmethod
    def from_samples(cls, samples: Mapping[str, Iterable[float]]) -> Calibration:
        refs = {}
        for name, values in samples.items():
            arr = np.asarray(list(values), dtype=np.float64)
            if arr.size < 2:
                raise ValueError(f"calibration of {name} needs at least 2 good parts")
            refs[name] = Reference(float(arr.mean()), float(arr.std(ddof=1)))
        return cls(refs)

    def to_json(self) -> dict[str, dict[str, float]]:
        return {k: {"mean": r.mean, "std": r.std} for k, r in self.references.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, float]]) -> Calibration:
        return cls({k: Reference(float(v["mean"]), float(v["std"])) for k, v in data.items()})


@dataclass(frozen=True)
class DriftSettings:
    """EWMA chart parameters (see the module docstring)."""

    smoothing: float = 0.02  # lambda
    limit_sigmas: float = 4.0  # L
    min_rel_sigma: float = 0.02


@dataclass(frozen=True)
class ChartLine:
    """One quantity's chart for a plot: its EWMA per good part and its control limits.

    Attributes:
        values: the EWMA after each charted good part, oldest first.
        reference: the calibration mean (the centre line).
        limit: the distance from the centre at which a warning is raised.
        one_sided: only a rise is drift (the score).
        active: a warning is raised now.
    """

    values: tuple[float, ...]
    reference: float
    limit: float
    one_sided: bool
    active: bool


@dataclass(frozen=True)
class DriftWarning:
    """A quantity left (active=True) or came back into (False) its control limits."""

    recipe: str
    quantity: str
    active: bool
    value: float  # the EWMA
    reference: float  # the calibration mean
    parts: int  # good parts seen by the monitor
    time: float


class DriftMonitor:
    """EWMA charts for one recipe's good parts."""

    def __init__(
        self, recipe: str, calibration: Calibration, settings: DriftSettings | None = None
    ) -> None:
        self.recipe = recipe
        self.settings = settings or DriftSettings()
        s = self.settings
        self.parts = 0
        self._ref = dict(calibration.references)
        self.ewma = {k: r.mean for k, r in self._ref.items()}
        self.limits = {}
        for name, ref in self._ref.items():
            sigma = max(ref.std, abs(ref.mean) * s.min_rel_sigma, 1e-12)
            self.limits[name] = s.limit_sigmas * sigma * math.sqrt(s.smoothing / (2 - s.smoothing))
        self.active: set[str] = set()
        self.history: collections.deque[dict[str, float]] = collections.deque(maxlen=HISTORY)

    def update(self, stats: Mapping[str, float]) -> list[DriftWarning]:
        """Feed one good part's quantities; the warnings raised or cleared by it."""
        self.parts += 1
        lam = self.settings.smoothing
        changes = []
        for name, value in stats.items():
            if name not in self._ref or not math.isfinite(value):
                continue
            z = lam * value + (1 - lam) * self.ewma[name]
            self.ewma[name] = z
            dev = z - self._ref[name].mean
            if name != "score":
                dev = abs(dev)  # a score falling is no drift; image statistics both ways
            if name not in self.active and dev > self.limits[name]:
                self.active.add(name)
                changes.append(self._warning(name, True))
            elif name in self.active and dev < self.limits[name] / 2:
                self.active.discard(name)
                changes.append(self._warning(name, False))
        self.history.append(dict(self.ewma))
        return changes

    def chart(self) -> dict[str, ChartLine]:
        """Every charted quantity, for a trend plot (a copy: the monitor goes on)."""
        return {
            name: ChartLine(
                tuple(h[name] for h in self.history if name in h),
                ref.mean,
                self.limits[name],
                name == "score",
                name in self.active,
            )
            for name, ref in self._ref.items()
        }

    def _warning(self, name: str, active: bool) -> DriftWarning:
        ref = self._ref[name].mean
        return DriftWarning(
            self.recipe, name, active, self.ewma[name], ref, self.parts, time.time()
        )


@dataclass(frozen=True)
class CameraHealthReport:
    """Camera health at one moment."""

    fps: float  # frames a second over the recent frames
    dropped: int  # frames the camera numbered but the station never got
    exposure_us: float | None
    sharpness: float  # EWMA of the focus measure


class CameraHealth:
    """Frame rate, dropped frames, exposure and focus of the camera feeding a station."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self.smoothing = smoothing
        self._last_time: float | None = None
        self._last_number = 0
        self._interval = 0.0
        self.dropped = 0
        self.sharpness = 0.0
        self.exposure_us: float | None = None

    def update(
        self,
        frame_time: float,
        frame_number: int = 0,
        sharpness: float | None = None,
        exposure_us: float | None = None,
    ) -> CameraHealthReport:
        """Feed one frame (time in seconds, the camera's frame number where it has one)."""
        lam = self.smoothing
        if self._last_time is not None and frame_time > self._last_time:
            gap = frame_time - self._last_time
            self._interval = gap if self._interval == 0 else lam * gap + (1 - lam) * self._interval
        self._last_time = frame_time
        if frame_number and self._last_number and frame_number > self._last_number + 1:
            self.dropped += frame_number - self._last_number - 1
        self._last_number = frame_number or self._last_number
        if sharpness is not None:
            first = self.sharpness == 0.0
            self.sharpness = sharpness if first else lam * sharpness + (1 - lam) * self.sharpness
        if exposure_us is not None:
            self.exposure_us = exposure_us
        return self.report()

    def report(self) -> CameraHealthReport:
        fps = 1.0 / self._interval if self._interval > 0 else 0.0
        return CameraHealthReport(fps, self.dropped, self.exposure_us, self.sharpness)
