"""OPC UA transport (asyncua): host an ``Inspection`` object, or map nodes on the PLC's server.

Server mode: the station hosts ``opc.tcp://HOST:PORT/inspector/`` with an object
``Inspection`` whose variables are the handshake signals, node ids
``ns=<namespace index>;s=Inspection.<Signal>`` (the namespace URI is in `OpcUaServerSettings`);
the PLC is the client. Client mode: the PLC hosts the variables and the station connects to
it, reading PLC-side signals through a subscription and writing station-side ones; when the
PLC's server goes away it reconnects with backoff and subscribes again by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asyncua import Client, Node, Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback

from station.line.signals import (
    BY_NAME,
    SIGNALS,
    ChangeCallback,
    SignalValue,
    check_station_signals,
    default_value,
)

log = logging.getLogger(__name__)

VARIANT_TYPES = {
    "bool": ua.VariantType.Boolean,
    "int": ua.VariantType.Int32,
    "float": ua.VariantType.Float,
    "str": ua.VariantType.String,
}
OBJECT_NAME = "Inspection"
LinkCallback = Callable[[bool, str], None]  # (link up, what happened), on the transport's loop


@dataclass(frozen=True)
class OpcUaServerSettings:
    """Where the station's OPC UA server listens.

    Attributes:
        host: interface to bind ("0.0.0.0" for all, "127.0.0.1" for this machine only).
        port: TCP port (4840 is the OPC UA default).
        namespace: namespace URI of the ``Inspection`` object's nodes.
    """

    host: str = "0.0.0.0"
    port: int = 4840
    namespace: str = "urn:visual-inspector:line"

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/inspector/"


def node_id(namespace_index: int, name: str) -> ua.NodeId:
    """The string node id of a station node, e.g. ``ns=2;s=Inspection.Trigger``."""
    return ua.NodeId.from_string(f"ns={namespace_index};s={name}")


def variant(name: str, value: SignalValue) -> ua.Variant:
    kind = BY_NAME[name].kind
    py = {"bool": bool, "int": int, "float": float, "str": str}[kind]
    return ua.Variant(py(value), VARIANT_TYPES[kind])


class OpcUaServerTransport:
    """The station as OPC UA server; the PLC (client) writes triggers and reads verdicts."""

    def __init__(self, settings: OpcUaServerSettings | None = None) -> None:
        self.settings = settings or OpcUaServerSettings()
        self.namespace_index = 0
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._names: dict[ua.NodeId, str] = {}
        self._on_change: ChangeCallback | None = None

    async def start(self, on_change: ChangeCallback) -> None:
        self._on_change = on_change
        server = Server()
        await server.init()
        server.set_endpoint(self.settings.endpoint)
        server.set_server_name("visual-inspector station")
        index = await server.register_namespace(self.settings.namespace)
        folder = await server.nodes.objects.add_object(
            node_id(index, OBJECT_NAME), ua.QualifiedName(OBJECT_NAME, index)
        )
        for signal in SIGNALS:
            nid = node_id(index, f"{OBJECT_NAME}.{signal.name}")
            var = await folder.add_variable(
                nid,
                ua.QualifiedName(signal.name, index),
                variant(signal.name, default_value(signal)),
            )
            await var.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(signal.doc))),
            )
            if signal.from_plc:
                await var.set_writable()
            self._nodes[signal.name] = nid
            self._names[nid] = signal.name
        server.subscribe_server_callback(CallbackType.PostWrite, self._after_write)
        await server.start()  # raises OSError when the port is taken
        self._server = server
        self.namespace_index = index
        log.info("OPC UA server on %s (namespace %d)", self.settings.endpoint, index)

    async def _after_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        if not event.is_external or self._on_change is None:
            return
        results = event.response_params or []
        for i, item in enumerate(event.request_params.NodesToWrite):
            name = self._names.get(item.NodeId)
            ok = i >= len(results) or results[i].is_good()
            written = item.Value.Value
            if name is not None and BY_NAME[name].from_plc and ok and written is not None:
                self._on_change(name, written.Value)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def read(self, name: str) -> SignalValue:
        if self._server is None:
            raise RuntimeError("OPC UA transport is not started")
        held = self._server.read_attribute_value(self._nodes[name]).Value
        if held is None:
            raise RuntimeError(f"OPC UA node of {name} holds no value")
        value: SignalValue = held.Value
        return value

    async def write(self, values: Mapping[str, SignalValue]) -> None:
        check_station_signals(values)
        if self._server is None:
            raise RuntimeError("OPC UA transport is not started")
        for name, value in values.items():
            await self._server.write_attribute_value(
                self._nodes[name], ua.DataValue(variant(name, value))
            )


@dataclass(frozen=True)
class OpcUaClientSettings:
    """The PLC's OPC UA server, which of its nodes carry each signal, and how to stay linked.

    Attributes:
        url: the PLC server's endpoint, e.g. "opc.tcp://192.168.0.10:4840".
        node_ids: signal name -> node id string ("ns=3;s=DB_Vision.Trigger"); every signal
            in `signals.SIGNALS` must be mapped.
        publish_ms: subscription interval for the PLC-side signals.
        timeout_s: longest wait for one request (and for a connection attempt).
        watchdog_s: how often a quiet link is probed; a closed socket is noticed at once, a
            silent one (cable pulled) within about twice this.
        backoff_s: first and largest wait between reconnection attempts; the wait doubles
            after each failed attempt.
    """

    url: str
    node_ids: Mapping[str, str] = field(default_factory=dict)
    publish_ms: float = 10.0
    timeout_s: float = 2.0
    watchdog_s: float = 1.0
    backoff_s: tuple[float, float] = (0.2, 5.0)

    def __post_init__(self) -> None:
        first, largest = self.backoff_s
        if not 0 < first <= largest:
            raise ValueError(f"OPC UA backoff_s must be (first, largest), got {self.backoff_s}")
        if self.timeout_s <= 0 or self.watchdog_s <= 0:
            raise ValueError("OPC UA timeout_s and watchdog_s must be positive")


class _Forward:
    def __init__(self, names: dict[str, str], on_change: ChangeCallback) -> None:
        self.names = names
        self.on_change = on_change

    def datachange_notification(self, node: Node, val: Any, _data: Any) -> None:
        self.on_change(self.names[node.nodeid.to_string()], val)

    def status_change_notification(self, status: Any) -> None:
        log.debug("OPC UA subscription status: %s", status)  # the supervisor handles a loss


async def _drop(client: Client) -> None:
    """Close a client whose server may be gone; what is left of it only needs freeing."""
    try:
        await asyncio.wait_for(client.disconnect(), 1.0)
    except Exception as exc:  # the socket is already closed, or the server does not answer
        log.debug("OPC UA: closing a lost link: %r", exc)
        client.disconnect_socket()


class OpcUaClientTransport:
    """The station as OPC UA client of the PLC's server, on configured node ids.

    When the server goes away the transport reports it through `on_link` (the handshake
    raises PLC_LOST), reconnects with backoff, maps the node ids and subscribes again, and
    reports the link back; reads and writes in between raise ConnectionError at once.
    """

    def __init__(self, settings: OpcUaClientSettings) -> None:
        missing = [s.name for s in SIGNALS if s.name not in settings.node_ids]
        unknown = [n for n in settings.node_ids if n not in BY_NAME]
        if missing or unknown:
            raise ValueError(
                f"OPC UA node_ids: missing {missing or 'none'}, unknown {unknown or 'none'}"
            )
        self.settings = settings
        self.on_link: LinkCallback | None = None
        self.reconnects = 0
        self._client: Client | None = None
        self._nodes: dict[str, Node] = {}
        self._types: dict[str, ua.VariantType] = {}
        self._on_change: ChangeCallback | None = None
        self._lost = asyncio.Event()
        self._lost_from: tuple[Client, str] | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self, on_change: ChangeCallback) -> None:
        self._on_change = on_change
        self._lost = asyncio.Event()  # bound to the loop the transport runs on
        self._client = await self._connect()
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _connect(self) -> Client:
        """Connect, map every node id and subscribe to the PLC-side signals."""
        s = self.settings
        client = Client(s.url, timeout=s.timeout_s, watchdog_intervall=s.watchdog_s)

        async def lost(exc: Exception) -> None:
            self._lost_from = (client, str(exc) or type(exc).__name__)
            self._lost.set()

        client.connection_lost_callback = lost
        await client.connect()  # raises OSError / TimeoutError when the PLC is unreachable
        try:
            nodes, types, names = {}, {}, {}
            for name, nid in s.node_ids.items():
                node = client.get_node(nid)
                try:
                    types[name] = await node.read_data_type_as_variant_type()
                except ua.UaStatusCodeError as exc:
                    raise ValueError(
                        f"OPC UA node_ids: {name} = {nid!r} on {s.url}: {exc}"
                    ) from exc
                nodes[name] = node
                names[node.nodeid.to_string()] = name
            if self._on_change is None:
                raise RuntimeError("OPC UA client transport: start() gives the change callback")
            subscription = await client.create_subscription(
                s.publish_ms, _Forward(names, self._on_change)
            )
            await subscription.subscribe_data_change([nodes[x.name] for x in SIGNALS if x.from_plc])
        except BaseException:
            await _drop(client)
            raise
        self._nodes, self._types = nodes, types
        return client

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            self._lost.clear()
            lost = self._lost_from
            if lost is None or lost[0] is not self._client:
                continue  # a client already replaced
            client, self._client = lost[0], None
            await _drop(client)
            since = time.monotonic()
            url = self.settings.url
            self._report(False, f"OPC UA link to {url} lost ({lost[1]}); reconnecting")
            delay, largest = self.settings.backoff_s
            while self._client is None:
                await asyncio.sleep(delay)
                try:
                    self._client = await self._connect()
                except Exception as exc:  # refused, timed out, or the server is half up
                    delay = min(delay * 2, largest)
                    log.warning(
                        "OPC UA: reconnecting to %s failed: %s; next try in %.1f s", url, exc, delay
                    )
            self.reconnects += 1
            self._report(True, f"OPC UA link to {url} back after {time.monotonic() - since:.1f} s")

    def _report(self, up: bool, message: str) -> None:
        (log.info if up else log.warning)("%s", message)
        if self.on_link is not None:
            self.on_link(up, message)

    async def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await _drop(client)

    def _linked(self) -> Client:
        if self._client is None:
            raise ConnectionError(f"OPC UA link to {self.settings.url} is down")
        return self._client

    async def read(self, name: str) -> SignalValue:
        self._linked()
        value: SignalValue = await self._nodes[name].read_value()
        return value

    async def write(self, values: Mapping[str, SignalValue]) -> None:
        check_station_signals(values)
        client = self._linked()
        typed = [
            ua.DataValue(ua.Variant(variant(n, v).Value, self._types[n])) for n, v in values.items()
        ]
        # One request, so the PLC finds them all set together, in this order.
        await client.write_values([self._nodes[n] for n in values], typed)
