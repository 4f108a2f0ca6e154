"""A DNS server on loopback (dnslib), UDP and TCP on one port, serving a zone a test builds."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

TYPES: dict[str, Any] = {"A": A, "AAAA": AAAA, "TXT": TXT, "MX": MX, "CNAME": CNAME}


@dataclass
class Zone:
    """Records by name; a name in `servfail` answers SERVFAIL; `asked` counts each question."""

    records: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)
    servfail: set[str] = field(default_factory=set)
    asked: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, protocol)

    def add(self, name: str, kind: str, value: Any) -> Zone:
        self.records.setdefault(name.lower().rstrip("."), []).append((kind, value))
        return self

    def txt(self, name: str, text: str) -> Zone:
        """A TXT record; long text is split into 255-byte strings, as DNS needs."""
        return self.add(name, "TXT", [text[i : i + 255] for i in range(0, len(text), 255)])

    def remove(self, name: str, kind: str) -> Zone:
        key = name.lower().rstrip(".")
        self.records[key] = [r for r in self.records.get(key, []) if r[0] != kind]
        return self


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        kind = QTYPE[request.q.qtype]
        self.zone.asked.append((name, kind, handler.protocol))
        if name in self.zone.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for _ in range(8):  # follow CNAMEs in the zone, as a recursive resolver would
            target = next((v for k, v in self.zone.records.get(name, []) if k == "CNAME"), None)
            if target is None or kind == "CNAME":
                break
            reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(target), ttl=60))
            name = target.lower().rstrip(".")
        for record_kind, value in self.zone.records.get(name, []):
            if record_kind == kind:
                rdata = MX(value[1], value[0]) if kind == "MX" else TYPES[kind](value)
                reply.add_answer(RR(name, getattr(QTYPE, kind), rdata=rdata, ttl=60))
        if not reply.rr and name not in self.zone.records:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _Handler(DNSHandler):  # type: ignore[misc]
    """An answer over 512 bytes comes back over UDP truncated, to be asked again over TCP.

    dnslib's own truncation drops the question too, which resolvers reject as no answer.
    """

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed: bytes = reply.pack()
        if self.protocol == "tcp" or len(packed) <= 512:
            return packed
        truncated = request.reply()
        truncated.header.tc = 1
        return bytes(truncated.pack())


@contextlib.contextmanager
def serving(zone: Zone) -> Iterator[str]:
    """Serve `zone` on 127.0.0.1, UDP and TCP; yields the `IP:PORT` to ask."""
    logger = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", logf=lambda _: None)
    resolver = _ZoneResolver(zone)
    servers: list[DNSServer] = []
    for _ in range(20):  # the TCP port may be taken by chance: pick another pair
        udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=logger, handler=_Handler)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(
                resolver, address="127.0.0.1", port=port, tcp=True, logger=logger, handler=_Handler
            )
        except OSError:
            udp.server.server_close()
            continue
        servers = [udp, tcp]
        break
    assert servers, "no free loopback port for UDP and TCP"
    for server in servers:  # polling often, so that stopping takes no time
        threading.Thread(
            target=server.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
    try:
        yield f"127.0.0.1:{servers[0].server.server_address[1]}"
    finally:
        for server in servers:
            server.server.shutdown()
            server.server.server_close()
