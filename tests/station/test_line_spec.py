"""The --plc spec: each transport with its defaults, and clear errors for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.line.spec import PlcSpecError, default_nodes, transport_factory


def test_server_specs_with_defaults_host_and_port() -> None:
    pytest.importorskip("asyncua")
    opcua = transport_factory("opcua")()
    assert (opcua.settings.host, opcua.settings.port) == ("0.0.0.0", 4840)
    local = transport_factory("opcua:127.0.0.1:4850")()
    assert (local.settings.host, local.settings.port) == ("127.0.0.1", 4850)
    assert transport_factory("opcua:4841")().settings.port == 4841


def test_client_spec_takes_a_node_map(tmp_path: Path) -> None:
    pytest.importorskip("asyncua")
    nodes = {name: f"ns=3;s=DB_Vision.{name}" for name in default_nodes()}
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(nodes))
    client = transport_factory(f"opcua-client:opc.tcp://10.0.0.5:4840@{path}")()
    assert client.settings.url == "opc.tcp://10.0.0.5:4840"
    assert dict(client.settings.node_ids) == nodes
    default = transport_factory("opcua-client:opc.tcp://10.0.0.5:4840")()
    assert dict(default.settings.node_ids)["Trigger"] == "ns=2;s=Trigger"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("profinet", "use one of opcua, opcua-client, modbus"),
        ("modbus:fast", "port 'fast' is not a number"),
        ("opcua:70000", "port 70000 is out of range"),
        ("opcua-client:10.0.0.5", "want opcua-client:opc.tcp://"),
        ("opcua-client:opc.tcp://h:1@/nonexistent/nodes.json", "node map /nonexistent"),
    ],
)
def test_bad_specs_are_refused_naming_the_problem(spec: str, message: str) -> None:
    with pytest.raises(PlcSpecError, match=message):
        transport_factory(spec)


def test_a_node_map_must_map_every_signal(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps({"Trigger": "ns=3;s=T"}))
    with pytest.raises(PlcSpecError, match="lacks .*Ready"):
        transport_factory(f"opcua-client:opc.tcp://h:1@{path}")
