"""Bundle signatures: a line runs only the models an engineer released.

A bundle's hashes catch corruption, not tampering: whoever edits a graph can recompute its
hash. ``inspector sign`` writes ``signature.json`` holding a manifest (the sha256 of every
file of the bundle, ``bundle.json`` included) and an ed25519 signature over it; a station
or ``inspect --require-signature PUBKEY`` refuses a bundle whose files differ from the
manifest, or whose manifest was not signed with the matching private key.

``engines/`` is left out: TensorRT engines are a cache each station builds from the signed
ONNX graph for its own GPU.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from inspector.atomic import write_bytes, write_text
from inspector.bundle import BundleError

SIGNATURE_FILE = "signature.json"
_UNSIGNED = frozenset({SIGNATURE_FILE})
_UNSIGNED_DIRS = frozenset({"engines"})


class SignatureError(BundleError):
    """A bundle is unsigned, its signature does not verify, or its files were changed."""


def manifest(bundle: str | os.PathLike[str]) -> dict[str, str]:
    """Relative path -> sha256 of every file in the bundle (links refused)."""
    root = Path(bundle)
    if not root.is_dir():
        raise BundleError(f"{root}: model bundle not found (expected a directory)")
    files: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        rel_folder = Path(folder).relative_to(root)
        if rel_folder == Path("."):
            dirs[:] = [d for d in dirs if d not in _UNSIGNED_DIRS]
        for name in [*dirs, *names]:
            path = Path(folder, name)
            if path.is_symlink():
                raise SignatureError(f"{path}: a link in a bundle cannot be signed or trusted")
        for name in names:
            rel = (rel_folder / name).as_posix()
            if rel in _UNSIGNED:
                continue
            files[rel] = hashlib.sha256(Path(folder, name).read_bytes()).hexdigest()
    return dict(sorted(files.items()))


def _canonical(files: dict[str, str]) -> bytes:
    return json.dumps(files, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign_bundle(bundle: str | os.PathLike[str], private_key: str | os.PathLike[str]) -> Path:
    """Write ``signature.json`` into ``bundle``, signed with the PEM private key file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(Path(private_key).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{private_key}: not an ed25519 private key (make one: inspector keygen)")
    files = manifest(bundle)
    doc = {
        "algorithm": "ed25519",
        "files": files,
        "signature": base64.b64encode(key.sign(_canonical(files))).decode("ascii"),
        "public_key": _public_pem(key.public_key()),
    }
    return write_text(Path(bundle) / SIGNATURE_FILE, json.dumps(doc, indent=2) + "\n")


def verify_bundle(bundle: str | os.PathLike[str], public_key: str | os.PathLike[str]) -> None:
    """Raise SignatureError unless ``bundle`` is exactly what the holder of the key signed.

    Args:
        bundle: the bundle folder.
        public_key: PEM file of the trusted ed25519 public key (not the one in the bundle).
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    bundle = Path(bundle)
    try:
        trusted = serialization.load_pem_public_key(Path(public_key).read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{public_key}: cannot read the public key ({exc})") from exc
    if not isinstance(trusted, Ed25519PublicKey):
        raise ValueError(f"{public_key}: not an ed25519 public key")
    sig_path = bundle / SIGNATURE_FILE
    if not sig_path.is_file() or sig_path.is_symlink():
        raise SignatureError(f"{bundle}: not signed ({SIGNATURE_FILE} missing); refused")
    try:
        doc: Any = json.loads(sig_path.read_text(encoding="utf-8"))
        signed = {str(k): str(v) for k, v in dict(doc["files"]).items()}
        signature = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"{sig_path}: damaged signature file ({exc}); refused") from exc
    try:
        trusted.verify(signature, _canonical(signed))
    except InvalidSignature:
        raise SignatureError(
            f"{bundle}: signature does not verify with {public_key} (signed by another key, "
            "or the signed file list was changed); refused"
        ) from None
    on_disk = manifest(bundle)
    changed = sorted(n for n in signed.keys() | on_disk.keys() if signed.get(n) != on_disk.get(n))
    if changed:
        raise SignatureError(
            f"{bundle}: files differ from what was signed ({', '.join(changed[:5])}); refused"
        )


def keygen(prefix: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new key pair: ``PREFIX.key`` (private, mode 600) and ``PREFIX.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for path in (private, public):
        if path.exists():
            raise ValueError(f"{path}: exists; a key is never overwritten")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_bytes(private, pem)
    os.chmod(private, 0o600)
    write_text(public, _public_pem(key.public_key()))
    return private, public


def _public_pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def add_commands(sub: argparse._SubParsersAction) -> None:
    k = sub.add_parser("keygen", help="make an ed25519 key pair for signing bundles")
    k.add_argument("prefix", type=Path, help="writes PREFIX.key (keep secret) and PREFIX.pub")
    k.set_defaults(func=_run_keygen)
    s = sub.add_parser("sign", help="sign a model bundle (see --require-signature)")
    s.add_argument("bundle", type=Path, help="model bundle directory")
    s.add_argument("--key", required=True, type=Path, help="private key file (inspector keygen)")
    s.set_defaults(func=_run_sign)
    v = sub.add_parser("verify", help="check a bundle's signature against a public key")
    v.add_argument("bundle", type=Path, help="model bundle directory")
    v.add_argument("--key", required=True, type=Path, help="trusted public key file")
    v.set_defaults(func=_run_verify)


def _run_keygen(args: argparse.Namespace) -> int:
    private, public = keygen(args.prefix)
    print(f"private key {private} (keep it secret), public key {public} (give to stations)")
    return 0


def _run_sign(args: argparse.Namespace) -> int:
    from inspector.bundle import verify_weights

    verify_weights(args.bundle)  # never sign a bundle that is already broken
    path = sign_bundle(args.bundle, args.key)
    print(f"signed {len(manifest(args.bundle))} files: {path}")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    verify_bundle(args.bundle, args.key)
    print(f"{args.bundle}: signature valid")
    return 0
