"""PINs of the engineer and admin roles, kept as salted scrypt hashes in the workspace.

``<workspace>/access.json`` holds, per role, the scrypt parameters, a random salt and the
hash; never the PIN. It is rewritten atomically (temporary file, fsync, ``os.replace``) and
readable by its owner only. Anyone who can write the workspace can reset a PIN, which is the
recovery path for a forgotten one:

    python -m station.pins set --workspace DIR [--role engineer|admin]
    python -m station.pins clear --workspace DIR --role admin
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PIN_FILE = "access.json"
LOG_FILE = "inspections.sqlite"  # the station's inspection log in the workspace
SCHEMA_VERSION = 1
PIN_ROLES = ("engineer", "admin")
MIN_LENGTH = 4
# 32 MiB and ~70 ms per check on a small CPU: slow for a guesser, unnoticed by a person.
# The parameters are stored with each hash, so raising them later keeps old PINs valid.
SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class PinFileError(Exception):
    """``access.json`` is unreadable or malformed; the message names the file and the field."""


class NoPinSet(Exception):
    """No PIN is set for any role, so nothing can be unlocked yet."""


class PinStore:
    """The PIN hashes in the file ``path`` (usually ``<workspace>/access.json``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def in_workspace(cls, workspace: str | Path) -> PinStore:
        """The store of the station whose workspace folder is ``workspace``."""
        return cls(Path(workspace) / PIN_FILE)

    def is_set(self, role: str) -> bool:
        """Whether ``role`` has a PIN."""
        return _role(role) in self._load()

    def check(self, role: str, pin: str) -> bool:
        """Whether ``pin`` is ``role``'s PIN (False if none is set); constant-time compare."""
        entry = self._load().get(_role(role))
        if entry is None:
            return False
        params = {k: entry[k] for k in SCRYPT}
        digest = _hash(pin, bytes.fromhex(entry["salt"]), params)
        return hmac.compare_digest(digest, bytes.fromhex(entry["hash"]))

    def set_pin(self, role: str, pin: str) -> None:
        """Set or replace ``role``'s PIN.

        Raises:
            ValueError: the PIN is shorter than ``MIN_LENGTH`` or only blanks.
        """
        if len(pin) < MIN_LENGTH or not pin.strip():
            raise ValueError(f"a PIN needs at least {MIN_LENGTH} characters, not only blanks")
        salt = secrets.token_bytes(16)
        entry = {
            "kdf": "scrypt",
            **SCRYPT,
            "salt": salt.hex(),
            "hash": _hash(pin, salt, SCRYPT).hex(),
        }
        self._save({**self._load(), _role(role): entry})

    def clear(self, role: str) -> bool:
        """Remove ``role``'s PIN; whether there was one."""
        pins = self._load()
        if pins.pop(_role(role), None) is None:
            return False
        self._save(pins)
        return True

    def how_to_set(self) -> str:
        """One line telling a person how to set a PIN for this workspace."""
        return f"set one with: python -m station.pins set --workspace {self.path.parent}"

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PinFileError(f"{self.path}: unreadable ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("pins"), dict):
            raise PinFileError(f"{self.path}: expected an object with a 'pins' object")
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise PinFileError(f"{self.path}: schema_version {version!r} is not one this reads")
        for role, entry in data["pins"].items():
            _validate(self.path, role, entry)
        return dict(data["pins"])

    def _save(self, pins: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        text = json.dumps({"schema_version": SCHEMA_VERSION, "pins": pins}, indent=2)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _role(role: str) -> str:
    name = str(role)
    if name not in PIN_ROLES:
        raise ValueError(f"only {', '.join(PIN_ROLES)} have PINs, not {name!r}")
    return name


def _hash(pin: str, salt: bytes, params: dict[str, int]) -> bytes:
    memory = 128 * params["r"] * params["n"] * params["p"] + 2**20
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, dklen=32, maxmem=memory, **params)


def _validate(path: Path, role: str, entry: object) -> None:
    where = f"{path}: pins.{role}"
    if role not in PIN_ROLES:
        raise PinFileError(f"{where}: unknown role (known: {', '.join(PIN_ROLES)})")
    if not isinstance(entry, dict) or entry.get("kdf") != "scrypt":
        raise PinFileError(f"{where}: expected an object with kdf 'scrypt'")
    for key in SCRYPT:
        if not isinstance(entry.get(key), int) or entry[key] < 1:
            raise PinFileError(f"{where}.{key}: expected a positive integer")
    for key in ("salt", "hash"):
        try:
            bytes.fromhex(entry.get(key) or "")
        except (TypeError, ValueError):
            raise PinFileError(f"{where}.{key}: expected hexadecimal text") from None
        if not entry.get(key):
            raise PinFileError(f"{where}.{key}: missing")


def main(argv: Sequence[str] | None = None, read: Callable[[str], str] = getpass.getpass) -> int:
    """``python -m station.pins``: set or clear a PIN; the change is audited.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).
        read: asks for a hidden line (``getpass``); ``--stdin`` reads lines instead.
    """
    p = argparse.ArgumentParser(prog="python -m station.pins", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["set", "clear", "status"])
    p.add_argument("--workspace", type=Path, required=True, help="the station's workspace")
    p.add_argument("--role", choices=PIN_ROLES, default="engineer")
    p.add_argument("--stdin", action="store_true", help="read the PIN from stdin (scripts)")
    args = p.parse_args(argv)
    store = PinStore.in_workspace(args.workspace)
    if args.command == "status":
        for role in PIN_ROLES:
            print(f"{role}: {'set' if store.is_set(role) else 'not set'}")
        return 0
    if args.command == "clear":
        changed = store.clear(args.role)
        print(f"{args.role} PIN {'cleared' if changed else 'was not set'}")
    else:
        if args.stdin:
            read = lambda _prompt: sys.stdin.readline().rstrip("\n")  # noqa: E731
        pin = read(f"new {args.role} PIN: ")
        if pin != read("repeat it: "):
            print("the two PINs differ; nothing changed", file=sys.stderr)
            return 1
        was_set = store.is_set(args.role)
        try:
            store.set_pin(args.role, pin)
        except ValueError as exc:
            print(f"{exc}; nothing changed", file=sys.stderr)
            return 1
        changed = True
        print(f"{args.role} PIN {'changed' if was_set else 'set'} in {store.path}")
    if changed:
        from station.audit import AuditTrail  # only the CLI writes the log from here

        with AuditTrail(args.workspace / LOG_FILE) as audit:
            what = "clear_pin" if args.command == "clear" else "set_pin"
            audit.record("admin (command line)", what, subject=args.role)
    return 0


if __name__ == "__main__":
    sys.exit(main())
