"""The ``--plc`` option: which transport links the station to its line.

``opcua[:[HOST:]PORT]`` hosts an OPC UA server (default 0.0.0.0:4840);
``opcua-client:URL`` connects to the PLC's own server, its nodes named ``ns=2;s=<Signal>``
unless a JSON file maps them (``opcua-client:URL@nodes.json``);
``modbus[:[HOST:]PORT]`` hosts a Modbus TCP server (default 0.0.0.0:502).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.line.signals import SIGNALS

KINDS = ("opcua", "opcua-client", "modbus")
DEFAULT_PORTS = {"opcua": 4840, "modbus": 502}


class PlcSpecError(ValueError):
    """A ``--plc`` value that names no transport, or a bad port or node map."""


def default_nodes() -> dict[str, str]:
    return {s.name: f"ns=2;s={s.name}" for s in SIGNALS}


def _host_port(spec: str, rest: str, kind: str) -> tuple[str, int]:
    host, _, port = rest.rpartition(":") if ":" in rest else ("", "", rest)
    try:
        number = int(port) if port else DEFAULT_PORTS[kind]
    except ValueError:
        raise PlcSpecError(f"--plc {spec!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise PlcSpecError(f"--plc {spec!r}: port {number} is out of range")
    return host or "0.0.0.0", number


def _nodes(spec: str, path: str) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlcSpecError(f"--plc {spec!r}: node map {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise PlcSpecError(f"--plc {spec!r}: node map {path}: want {{signal: node id}}")
    missing = sorted(set(default_nodes()) - set(data))
    if missing:
        raise PlcSpecError(f"--plc {spec!r}: node map {path} lacks {', '.join(missing)}")
    return dict(data)


def transport_factory(spec: str) -> Callable[[], Any]:
    """Check ``spec`` now; the returned call makes its transport (on the link's thread: some
    transports need its running loop). Runtimes are imported only when used.

    Raises:
        PlcSpecError: the spec names no transport, or its port or node map is bad.
    """
    kind, _, rest = spec.strip().partition(":")
    if kind == "opcua":
        host, port = _host_port(spec, rest, kind)

        def opcua() -> Any:
            from station.line.opcua import OpcUaServerSettings, OpcUaServerTransport

            return OpcUaServerTransport(OpcUaServerSettings(host, port))

        return opcua
    if kind == "modbus":
        host, port = _host_port(spec, rest, kind)

        def modbus() -> Any:
            from station.line.modbus import ModbusServerTransport, ModbusSettings

            return ModbusServerTransport(ModbusSettings(host, port))

        return modbus
    if kind == "opcua-client":
        url, _, nodes = rest.partition("@")
        if not url.startswith("opc.tcp://"):
            raise PlcSpecError(f"--plc {spec!r}: want opcua-client:opc.tcp://HOST:PORT")
        node_ids = _nodes(spec, nodes) if nodes else default_nodes()

        def client() -> Any:
            from station.line.opcua import OpcUaClientSettings, OpcUaClientTransport

            return OpcUaClientTransport(OpcUaClientSettings(url, node_ids))

        return client
    raise PlcSpecError(f"--plc {spec!r}: use one of {', '.join(KINDS)} (e.g. opcua:4840)")
