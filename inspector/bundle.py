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
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from inspector.atomic import kill_point, staging_folder, swap_in, write_bytes, write_text
from inspector.families import check_setting_names, family_names
from inspector.preprocess import Preprocessing
from inspector.verdict import (
    Calibration,
    ScoreStats,
    Thresholds,
    calibration_in,
    finite_image_threshold,
    plausible_thresholds,
)

FORMAT = "visual-inspector-bundle"
# 2: the input size only in "preprocessing", no longer also in the model config and the
# recorded settings. Schema 1 bundles still load.
SCHEMA_VERSION = 2
META_FILE = "bundle.json"
WEIGHTS_FILE = "weights.safetensors"


class BundleError(ValueError):
    """A bundle is missing, corrupt, foreign, too new, or does not match its model."""


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

    @property
    def calibration(self) -> Calibration | None:
        """How the thresholds were calibrated; None for a bundle saved without that record."""
        return calibration_in(self.training)

    def with_thresholds(self, allow_implausible: bool = False, **changes: Any) -> BundleMeta:
        """This metadata with thresholds changed.

        The image threshold must be finite and, unless ``allow_implausible`` (a person
        confirmed it for this run), plausible for the model's good scores.
        """
        th = replace(self.thresholds, **changes)
        if allow_implausible:
            return replace(self, thresholds=finite_image_threshold(th))
        cal = self.calibration
        calibrated = cal.image_threshold if cal else None
        return replace(self, thresholds=plausible_thresholds(th, self.score_stats, calibrated))

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
            stats = ScoreStats(**d["score_stats"])
            cal = calibration_in(training)
            calibrated = cal.image_threshold if cal is not None else None
            return cls(
                family=family,
                model_config=config,
                preprocessing=preprocessing,
                # An edited threshold far above every good score would pass every part.
                thresholds=plausible_thresholds(Thresholds(**d["thresholds"]), stats, calibrated),
                score_stats=stats,
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


def plain_name(name: object, field: str) -> str:
    """``name`` if it is a relative path of plain parts (no '..', not absolute), else raise.

    Every file a bundle names must lie inside it: a bundle.json pointing at
    ``../../other/model.onnx`` or ``/etc/shadow`` would make the loader read (and run) files
    the bundle does not carry.
    """
    text = name if isinstance(name, str) else None
    parts = text.replace("\\", "/").split("/") if text else []
    if (
        not text
        or "\x00" in text
        or os.path.isabs(text)
        or text.startswith(("\\", "/"))
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise BundleError(
            f"{field} is {name!r}: a bundle may only name files inside itself "
            "(a plain relative name, no '..', no absolute path)"
        )
    return text


def inside_bundle(directory: str | Path, name: object, field: str) -> Path:
    """The path of the file ``name`` in the bundle, refused if it or a link leads outside.

    Raises:
        BundleError: naming ``field`` and the bundle, for a name that is not plain or a
            path that resolves (through symbolic links) outside the bundle.
    """
    directory = Path(directory)
    try:
        path = directory / plain_name(name, field)
    except BundleError as exc:
        raise BundleError(f"{directory}: {exc}") from None
    root = os.path.realpath(directory)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise BundleError(
            f"{directory}: {field} {name!r} is a link leading outside the bundle "
            f"(to {os.path.realpath(path)}); a bundle must carry its own files"
        )
    return path


# Backbone names timm resolves by downloading (a hub, a URL); a station is often offline, and
# a bundle must not make it fetch code or weights from wherever its JSON says.
_DOWNLOADING = re.compile(r"^(hf[-_]hub:|timm/|https?://|ftp://)", re.IGNORECASE)


def check_no_download(meta: BundleMeta, where: Path) -> None:
    """Raise BundleError if loading the model of ``meta`` would go to the network."""

    def strings(value: Any, key: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield from strings(v, f"{key}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from strings(v, f"{key}[{i}]")
        elif isinstance(value, str):
            yield key, value

    for key, value in strings(meta.model_config, "model.config"):
        if _DOWNLOADING.match(value):
            raise BundleError(
                f"{where}: {key} is {value!r}, which would be downloaded at load; refused "
                "(pass --allow-download / allow_download=True to permit it)"
            )


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
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_bundle(
    directory: str | Path,
    model: Any,
    meta: BundleMeta,
    extra_files: Mapping[str, bytes] | None = None,
) -> BundleMeta:
    """Write ``model``'s tensors, ``meta`` and ``extra_files`` as the bundle ``directory``.

    The bundle is built in a new folder beside ``directory`` and swapped in at the end, so
    a kill at any point leaves the old bundle whole or the new one whole, never new weights
    beside old metadata. Files of the old bundle (exports, engines) go with it.

    Args:
        directory: the bundle folder (replaced if it exists).
        model: its ``state_dict`` is saved.
        meta: the metadata; model id, hashes, time and versions are filled in.
        extra_files: plain file name -> contents (e.g. the training settings).

    Returns:
        The final metadata.
    """
    directory = Path(directory)
    staged = staging_folder(directory)
    try:
        meta = _write_bundle(staged, model, meta, extra_files or {})
        swap_in(staged, directory)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return meta


def _write_bundle(
    directory: Path, model: Any, meta: BundleMeta, extra_files: Mapping[str, bytes]
) -> BundleMeta:
    from safetensors.torch import save_file

    from inspector import __version__

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"format": FORMAT})
    os.chmod(weights, 0o644)
    kill_point("weights-written")
    digest = file_sha256(weights)
    import timm
    import torch

    # The input size is stored once (preprocessing) and read back into the model config, so
    # the id is computed on the config as it will be loaded.
    size = list(meta.preprocessing.input_size)
    if list(meta.model_config.get("input_size", size)) != size:
        raise ValueError(
            f"model input size {list(meta.model_config['input_size'])} differs from the "
            f"preprocessing's {size}"
        )
    config = {**meta.model_config, "input_size": size}
    meta = replace(
        meta,
        model_config=config,
        model_id=compute_model_id(digest, meta.family, config),
        weights_sha256=digest,
        created=meta.created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        software={
            "visual-inspector": __version__,
            "torch": torch.__version__,
            "timm": timm.__version__,
        },
    )
    _write_json_atomic(directory / META_FILE, meta.to_json())
    kill_point("meta-written")
    for name, data in extra_files.items():
        write_bytes(directory / plain_name(name, "extra file"), data)
    kill_point("bundle-staged")
    return meta


def read_meta(directory: str | Path) -> BundleMeta:
    """Read and validate ``bundle.json`` (not the weights)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError(f"{directory}: model bundle not found (expected a directory)")
    path = inside_bundle(directory, META_FILE, META_FILE)
    if not path.is_file():
        raise BundleError(f"{directory}: not a model bundle ({META_FILE} missing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: corrupt JSON ({exc})") from exc
    try:
        return BundleMeta.from_json(data, path)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        if isinstance(exc, BundleError):
            raise
        # Whatever shape a damaged or hostile bundle.json has, it is a bad bundle, named.
        raise BundleError(f"{path}: bundle.json is malformed ({exc!r})") from exc


def verify_weights(directory: str | Path, named: str | Path | None = None) -> BundleMeta:
    """Read the metadata and check the weights file against its recorded hash.

    Errors name ``named`` (default: the bundle directory) so a copy can be reported under
    the name the user knows.
    """
    directory = Path(directory)
    named = named or directory
    meta = read_meta(directory)
    weights = inside_bundle(directory, WEIGHTS_FILE, "weights.file")
    if not weights.is_file():
        raise BundleError(f"{named}: {WEIGHTS_FILE} missing")
    if file_sha256(weights) != meta.weights_sha256:
        raise BundleError(
            f"{named}: {WEIGHTS_FILE} does not match the hash in {META_FILE} "
            "(file corrupt, truncated or replaced)"
        )
    # The id covers weights, family and config: an edited config (input size, backbone)
    # would run another model under the released one's name.
    if compute_model_id(meta.weights_sha256, meta.family, meta.model_config) != meta.model_id:
        raise BundleError(
            f"{named}: model id {meta.model_id} does not match its weights and model config "
            f"in {META_FILE} (edited or mixed up)"
        )
    return meta


def load_bundle(
    directory: str | Path, device: str = "cpu", allow_download: bool = False
) -> tuple[Any, BundleMeta]:
    """Rebuild the model of a bundle with its weights, checking integrity on the way.

    Args:
        directory: the bundle folder.
        device: where the model goes.
        allow_download: permit a backbone that timm fetches from a hub (refused otherwise).

    Raises:
        BundleError: corrupt or truncated weights, hash mismatch, unknown family, or tensors
            that do not fit the model the metadata describes.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from inspector.models import model_class

    directory = Path(directory)
    meta = verify_weights(directory)
    if not allow_download:
        check_no_download(meta, directory)
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
    meta = meta.with_thresholds(**changes)
    _write_json_atomic(directory / META_FILE, meta.to_json())
    return meta
