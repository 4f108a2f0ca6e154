"""DNS lookups for the deliverability pre-flight (dnspython): answers, never exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.exception
import dns.resolver

# A lookup that cannot be answered becomes an Answer with a `failure`: the pre-flight reports
# it as a finding and goes on with the other checks.


@dataclass(frozen=True)
class Answer:
    """What DNS said about one name and type: its records, or why there was no answer."""

    name: str
    records: tuple[str, ...] = ()
    canonical: str = ""  # the name the records belong to, after any CNAME
    failure: str | None = None  # the lookup failed (timeout, SERVFAIL): nothing is known


@dataclass
class Resolver:
    """Asks `server` (`IP`, `IP:PORT` or `[IPv6]:PORT`), or the system's resolver when None.

    Each lookup gives up after `timeout` seconds; answers are kept for the run, as SPF
    evaluation asks for the same names more than once.
    """

    server: str | None = None
    timeout: float = 3.0
    _cache: dict[tuple[str, str], Answer] = field(default_factory=dict, repr=False)

    def txt(self, name: str) -> Answer:
        """The TXT records of `name`, each record's strings joined as RFC 7208 3.3 says."""
        return self._ask(name, "TXT")

    def addresses(self, name: str) -> Answer:
        """The A and AAAA records of `name`."""
        four, six = self._ask(name, "A"), self._ask(name, "AAAA")
        failure = four.failure if not four.records and not six.records else None
        return Answer(name, four.records + six.records, four.canonical, failure)

    def mx(self, name: str) -> Answer:
        """The mail exchangers of `name`, most preferred first."""
        return self._ask(name, "MX")

    def _ask(self, name: str, kind: str) -> Answer:
        key = (name.lower().rstrip("."), kind)
        if key not in self._cache:
            self._cache[key] = self._lookup(key[0], kind)
        return self._cache[key]

    def _lookup(self, name: str, kind: str) -> Answer:
        try:
            answer = self._resolver().resolve(name, kind, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return Answer(name, canonical=name)
        except dns.resolver.LifetimeTimeout:
            return Answer(name, failure=f"no answer within {self.timeout:g} s")
        except dns.resolver.NoNameservers:
            return Answer(name, failure="the name server failed to answer (SERVFAIL or refused)")
        except dns.resolver.NoResolverConfiguration:
            return Answer(name, failure="this machine has no DNS resolver (/etc/resolv.conf)")
        except dns.exception.DNSException as exc:
            return Answer(name, failure=str(exc) or type(exc).__name__)
        canonical = answer.canonical_name.to_text(omit_final_dot=True).lower()
        records = list(answer)
        if kind == "MX":
            records.sort(key=lambda r: int(getattr(r, "preference", 0)))
        return Answer(name, tuple(_text(r, kind) for r in records), canonical)

    def _resolver(self) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=self.server is None)
        if self.server is not None:
            host, port = split_server(self.server)
            resolver.nameservers = [host]
            resolver.port = port
        resolver.timeout = resolver.lifetime = self.timeout
        return resolver


def split_server(server: str) -> tuple[str, int]:
    """`IP`, `IP:PORT` or `[IPv6]:PORT` as (IP, port)."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.removeprefix(":") or 53)
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53


def _text(record: object, kind: str) -> str:
    if kind == "TXT":
        strings: tuple[bytes, ...] = getattr(record, "strings", ())
        return b"".join(strings).decode("utf-8", errors="replace")
    if kind == "MX":
        return str(getattr(record, "exchange", "")).rstrip(".").lower()
    return str(getattr(record, "address", record))
