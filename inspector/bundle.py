"""Model bundles: a directory with safetensors weights and a JSON description.

Layout::

    BUNDLE/
      bundle.json          schema version, model family and config, preprocessing,
                           thresholds, score statistics, training summary, model id
      weights.safetensors  every tensor of the model (backbone included), no pickles
      model.onnx           (optional) the exported graph, its hash in bundle.json
      engines/             (optional) TensorRT engines, one per GPU/TensorRT/precision key

The model id is a content hash of the weights and the model config, so two bundles with the
same id compute the same scores. Thresholds are metadata, outside the hash and outside the
graph: an engineer may move them at any time without retraining or re-exporting.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import numbers
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from inspector.families import check_setting_names, family_names
from inspector.preprocess import Preprocessing

FORMAT = "visual-inspector-bundle"
# 2: the input size only in "preprocessing", no longer also in the model config and the
# recorded settings. Schema 1 bundles still load.
SCHEMA_VERSION = 2
META_FILE = "bundle.json"
WEIGHTS_FILE = "weights.safetensors"


class BundleError(ValueError):
    """A bundle is missing, corrupt, foreign, too new, or does not match its model."""


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail settings, kept out of the exported graph.

    Attributes:
        image: image score above which a part FAILs.
        pixel: anomaly-map value above which a pixel belongs to a defect region.
        min_defect_area_px: regions smaller than this (original-image pixels) are not reported.
        target_false_reject_rate: the good-part reject rate the image threshold was set for.
    """

    image: float
    pixel: float
    min_defect_area_px: int = 25
    target_false_reject_rate: float = 0.01

    def __post_init__(self) -> None:
        # A NaN threshold would pass every part (any comparison with NaN is false), so bad
        # values are refused wherever thresholds are made: bundle.json, the API, the CLI.
        # inf is allowed here (training's placeholder before calibration, or "no regions"
        # for pixels); a bundle or a user may only set a finite image threshold
        # (``finite_image_threshold``).
        _require_number("image threshold", self.image, allow_inf=True)
        _require_number("pixel threshold", self.pixel, allow_inf=True)
        if isinstance(self.min_defect_area_px, bool) or not isinstance(
            self.min_defect_area_px, numbers.Integral
        ):
            raise ValueError(
                f"min_defect_area_px must be an integer, got {self.min_defect_area_px!r}"
            )
        if self.min_defect_area_px < 0:
            raise ValueError(f"min_defect_area_px must be >= 0, got {self.min_defect_area_px}")
        _require_number("target_false_reject_rate", self.target_false_reject_rate, False)
        if not 0.0 <= self.target_false_reject_rate <= 1.0:
            raise ValueError(
                f"target_false_reject_rate must be in [0, 1], got {self.target_false_reject_rate}"
            )


@dataclass(frozen=True)
class ScoreStats:
    """Image-score statistics of the held-out good images, for normalisation and display."""

    good_median: float
    good_max: float
    good_count: int
    pixel_good_median: float = 0.0

    def __post_init__(self) -> None:
        for name in ("good_median", "good_max", "pixel_good_median"):
            _require_number(name, getattr(self, name), allow_inf=False)


def finite_image_threshold(thresholds: Thresholds) -> Thresholds:
    """``thresholds`` if its image threshold is finite; an infinite one would pass (or
    fail) every part whatever its score, which no bundle or user should set."""
    if not math.isfinite(thresholds.image):
        raise ValueError(f"image threshold must be a finite number, got {thresholds.image}")
    return thresholds


def _require_number(name: str, value: object, allow_inf: bool) -> None:
    """Raise ValueError unless ``value`` is a real number (not NaN; inf only if allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if math.isnan(float(value)) or (not allow_inf and math.isinf(float(value))):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class BundleMeta:
    """Everything in ``bundle.json``."""

    family: str
    model_config: dict[str, Any]
    preprocessing: Preprocessing
    thresholds: Thresholds
    score_stats: ScoreStats
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    model_id: str = ""
    weights_sha256: str = ""
    created: str = ""
    software: dict[str, str] = field(default_factory=dict)
    # name -> {"file", "sha256", ...}: exported graphs (ONNX) and engines kept in the bundle.
    exports: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``bundle.json``'s contents; the input size is written once, in preprocessing."""
        config = {k: v for k, v in self.model_config.items() if k != "input_size"}
        training = dict(self.training)
        if isinstance(training.get("settings"), dict):
            training["settings"] = {
                k: v for k, v in training["settings"].items() if k != "input_size"
            }
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "model_id": self.model_id,
            "created": self.created,
            "model": {"family": self.family, "config": config},
            "preprocessing": self.preprocessing.to_dict(),
            "thresholds": asdict(self.thresholds),
            "score_stats": asdict(self.score_stats),
            "training": training,
            "evaluation": self.evaluation,
            "weights": {"file": WEIGHTS_FILE, "sha256": self.weights_sha256},
            "exports": self.exports,
            "software": self.software,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], where: Path) -> BundleMeta:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise BundleError(f"{where}: not a {FORMAT} (missing or wrong 'format' field)")
        version = d.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise BundleError(f"{where}: schema_version is missing or not a positive integer")
        if version > SCHEMA_VERSION:
            raise BundleError(
                f"{where}: bundle schema version {version} is newer than this software reads "
                f"({SCHEMA_VERSION}); upgrade visual-inspector"
            )
        family = d.get("model", {}).get("family") if isinstance(d.get("model"), dict) else None
        if family not in family_names():
            raise BundleError(
                f"{where}: unknown model family {family!r} (known: {', '.join(family_names())})"
            )
        try:
            preprocessing = Preprocessing.from_dict(d["preprocessing"])
            training = dict(d.get("training", {}))
            config = _model_config(d["model"]["config"], preprocessing, version, where)
            if version >= 2 and isinstance(training.get("settings"), dict):
                _check_recorded_settings(family, training["settings"], where)
            return cls(
                family=family,
                model_config=config,
                preprocessing=preprocessing,
                thresholds=finite_image_threshold(Thresholds(**d["thresholds"])),
                score_stats=ScoreStats(**d["score_stats"]),
                training=training,
                evaluation=dict(d.get("evaluation", {})),
                model_id=str(d["model_id"]),
                weights_sha256=str(d["weights"]["sha256"]),
                created=str(d.get("created", "")),
                software=dict(d.get("software", {})),
                exports=dict(d.get("exports", {})),
            )
        except BundleError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: bundle.json is incomplete or malformed ({exc!r})") from exc


def _check_recorded_settings(family: str, settings: dict[str, Any], where: Path) -> None:
    """Settings recorded for another family mean a bundle edited or mixed up."""
    try:
        check_setting_names(family, set(settings) - {"model", "preset"})
    except ValueError as exc:
        raise BundleError(f"{where}: training.settings: {exc}") from exc


def _model_config(
    config: dict[str, Any], preprocessing: Preprocessing, version: int, where: Path
) -> dict[str, Any]:
    """The model's constructor arguments, the input size among them, which schema 2 keeps
    only in the preprocessing (schema 1 kept it in both, which had to agree)."""
    config = dict(config)
    size = list(preprocessing.input_size)
    if version >= 2 and "input_size" in config:
        raise BundleError(f"{where}: model.config.input_size given; schema 2 keeps it in "
                          "preprocessing.input_size only")  # fmt: skip
    if "input_size" in config and list(config["input_size"]) != size:
        raise BundleError(
            f"{where}: model.config.input_size {list(config['input_size'])} differs from "
            f"preprocessing.input_size {size} (bundle edited or mixed up)"
        )
    config["input_size"] = size
    return config


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def compute_model_id(weights_sha256: str, family: str, config: dict[str, Any]) -> str:
    blob = json.dumps({"w": weights_sha256, "f": family, "c": config}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    # Write-then-rename: a crash mid-write never leaves a half bundle.json behind.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bundle-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a bundle is meant to be shared
    os.replace(tmp, path)


def save_bundle(directory: str | Path, model: Any, meta: BundleMeta) -> BundleMeta:
    """Write ``model``'s tensors and ``meta`` into ``directory``; returns the final meta."""
    from safetensors.torch import save_file

    from inspector import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": FORMAT})
    digest = file_sha256(weights)
    import timm
    import torch

    meta = replace(
        meta,
        model_id=compute_model_id(digest, meta.family, meta.model_config),
        weights_sha256=digest,
        created=meta.created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        software={
            "visual-inspector": __version__,
            "torch": torch.__version__,
            "timm": timm.__version__,
        },
    )
    _write_json_atomic(directory / META_FILE, meta.to_json())
    return meta


def read_meta(directory: str | Path) -> BundleMeta:
    """Read and validate ``bundle.json`` (not the weights)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"{directory}: model bundle not found (expected a directory)")
    path = directory / META_FILE
    if not path.is_file():
        raise BundleError(f"{directory}: not a model bundle ({META_FILE} missing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: corrupt JSON ({exc})") from exc
    return BundleMeta.from_json(data, path)


def verify_weights(directory: str | Path, named: str | Path | None = None) -> BundleMeta:
    """Read the metadata and check the weights file against its recorded hash.

    Errors name ``named`` (default: the bundle directory) so a copy can be reported under
    the name the user knows.
    """
    directory = Path(directory)
    named = named or directory
    meta = read_meta(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{named}: {WEIGHTS_FILE} missing")
    if file_sha256(weights) != meta.weights_sha256:
        raise BundleError(
            f"{named}: {WEIGHTS_FILE} does not match the hash in {META_FILE} "
            "(file corrupt, truncated or replaced)"
        )
    return meta


def load_bundle(directory: str | Path, device: str = "cpu") -> tuple[Any, BundleMeta]:
    """Rebuild the model of a bundle with its weights, checking integrity on the way.

    Raises:
        BundleError: corrupt or truncated weights, hash mismatch, unknown family, or tensors
            that do not fit the model the metadata describes.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from inspector.models import model_class

    directory = Path(directory)
    meta = verify_weights(directory)
    weights = directory / WEIGHTS_FILE
    try:
        cls = model_class(meta.family)
    except ValueError as exc:
        raise BundleError(f"{directory}: {exc}") from exc
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{weights}: unreadable weights ({exc})") from exc
    try:
        model = cls(**meta.model_config, load_weights=False)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise BundleError(
            f"{directory}: weights do not fit a {meta.family} model with this config ({exc})"
        ) from exc
    return model.to(device).eval(), meta


def update_evaluation(directory: str | Path, evaluation: dict[str, Any]) -> BundleMeta:
    """Record an evaluation summary in the bundle (it does not change the model id)."""
    directory = Path(directory)
    meta = replace(read_meta(directory), evaluation=evaluation)
    _write_json_atomic(directory / META_FILE, meta.to_json())
    return meta


def update_exports(directory: str | Path, name: str, info: dict[str, Any] | None) -> BundleMeta:
    """Record (or, with None, forget) an exported file such as ``onnx`` in ``bundle.json``."""
    directory = Path(directory)
    meta = read_meta(directory)
    exports = {k: v for k, v in meta.exports.items() if k != name}
    if info is not None:
        exports[name] = info
    meta = replace(meta, exports=exports)
    _write_json_atomic(directory / META_FILE, meta.to_json())
    return meta


def update_thresholds(directory: str | Path, **changes: Any) -> BundleMeta:
    """Change thresholds in place (e.g. an engineer moving the image threshold)."""
    directory = Path(directory)
    meta = read_meta(directory)
    meta = replace(meta, thresholds=finite_image_threshold(replace(meta.thresholds, **changes)))
    _write_json_atomic(directory / META_FILE, meta.to_json())
    return meta
