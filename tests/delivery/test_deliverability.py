"""check --deliverability against a real DNS server on loopback, with good and broken records."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from innovate_news import api
from innovate_news import settings as settings_module
from innovate_news.delivery import deliverability
from innovate_news.delivery.domain import Finding
from innovate_news.errors import SettingsError
from innovate_news.settings import Settings
from tests.support.dnsserver import Zone, serving
from tests.support.servers import free_port


def _key(bits: int = 1024) -> tuple[bytes, str]:
    """A PEM private key and the base64 public key a DKIM record carries."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(public).decode("ascii")


@pytest.fixture(scope="module")
def keys() -> tuple[tuple[bytes, str], tuple[bytes, str]]:
    return _key(), _key()


@pytest.fixture
def zone(keys: tuple[tuple[bytes, str], tuple[bytes, str]]) -> Zone:
    """example.org set up well for Postmark (DKIM selector pm) and the SMTP relay."""
    return (
        Zone()
        .txt("example.org", "v=spf1 include:spf.mtasv.net ip4:192.0.2.25 ~all")
        .txt("spf.mtasv.net", "v=spf1 ip4:198.51.100.0/24 -all")
        .txt("mailgun.org", "v=spf1 ip4:203.0.113.0/24 -all")
        .txt("sendgrid.net", "v=spf1 ip4:203.0.113.0/24 -all")
        .txt("pm._domainkey.example.org", f"v=DKIM1; k=rsa; p={keys[0][1]}")
        .txt("_dmarc.example.org", "v=DMARC1; p=reject; rua=mailto:dmarc@example.org")
        .add("example.org", "A", "192.0.2.10")
        .add("smtp.example.org", "A", "192.0.2.25")
    )


@pytest.fixture
def server(zone: Zone) -> Iterator[str]:
    with serving(zone) as address:
        yield address


def configure(
    project: Path,
    server: str,
    provider: str = "postmark",
    extra: str = "",
    smtp: str = "",
    timeout: float = 2,
) -> Settings:
    """The example project sending through `provider`, asking `server` for DNS."""
    path = project / "innovate-news.toml"
    text = path.read_text(encoding="utf-8").split("\n[deliverability]\n")[0]
    text = re.sub(r'(?m)^provider = "\w+"', f'provider = "{provider}"', text)
    if smtp:
        text = text.replace("[providers.smtp]\n", f"[providers.smtp]\n{smtp}\n")
    text += f'\n[deliverability]\ndns_server = "{server}"\ndns_timeout = {timeout}\n{extra}\n'
    path.write_text(text, encoding="utf-8")
    return settings_module.load(path)


def postmark(project: Path, server: str) -> Settings:
    return configure(project, server, "postmark", 'dkim_selector = "pm"')


def check(settings: Settings, size: int | None = 100) -> list[Finding]:
    return deliverability.check(settings, str(settings.email["provider"]), size, "unknown")


def about(findings: list[Finding], topic: str) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in findings if f.topic == topic]


def errors(findings: list[Finding]) -> list[str]:
    return [str(f) for f in findings if f.level == "error"]


def test_a_well_set_up_domain_has_no_errors(project: Path, server: str) -> None:
    found = check(postmark(project, server))
    assert errors(found) == []
    assert ("ok", "example.org includes spf.mtasv.net (Postmark's senders)") in about(found, "SPF")
    assert about(found, "DKIM")[0][0] == "ok"
    assert about(found, "DMARC")[0] == (
        "ok", "_dmarc.example.org: p=reject: receivers refuse failing mail"
    )  # fmt: skip
    # Postmark's own bounce domain does not align, the DKIM domain does: DMARC passes.
    alignment = about(found, "alignment")[0]
    assert alignment[0] == "ok"
    assert "pm.mtasv.net not aligned" in alignment[1]
    assert "d=example.org aligned (relaxed)" in alignment[1]
    assert about(found, "unsubscribe") == [
        ("ok", "the unsubscribe host example.org resolves (192.0.2.10)")
    ]


def test_missing_spf_is_an_error(project: Path, zone: Zone, server: str) -> None:
    zone.remove("example.org", "TXT")
    found = check(postmark(project, server))
    assert about(found, "SPF") == [
        (
            "error",
            "example.org has no SPF record: receivers cannot tell who may send for it: "
            "publish a TXT record like v=spf1 include:spf.mtasv.net ~all",
        )
    ]


def test_spf_without_the_providers_include(project: Path, zone: Zone, server: str) -> None:
    zone.remove("example.org", "TXT").txt("example.org", "v=spf1 include:sendgrid.net -all")
    found = check(postmark(project, server))
    assert (
        "error: SPF: example.org's SPF does not include spf.mtasv.net: Postmark's servers fail "
        "SPF for it; add include:spf.mtasv.net before the all"
    ) in errors(found)
    # the same record is right for SendGrid
    assert about(check(configure(project, server, "sendgrid")), "SPF")[-1] == (
        "ok", "example.org includes sendgrid.net (SendGrid's senders)"
    )  # fmt: skip


def test_two_spf_records_are_an_error(project: Path, zone: Zone, server: str) -> None:
    zone.txt("example.org", "v=spf1 -all")
    found = check(postmark(project, server))
    assert "example.org has 2 SPF records" in errors(found)[0]


def test_an_spf_include_loop_is_an_error(project: Path, zone: Zone, server: str) -> None:
    zone.remove("example.org", "TXT").txt("example.org", "v=spf1 include:a.example.org -all")
    zone.txt("a.example.org", "v=spf1 include:spf.mtasv.net include:b.example.org -all")
    zone.txt("b.example.org", "v=spf1 include:a.example.org -all")
    found = check(postmark(project, server))
    assert (
        "error: SPF: SPF include loop (example.org → a.example.org → b.example.org → "
        "a.example.org): receivers stop with permerror"
    ) in errors(found)


def test_more_than_ten_spf_lookups_is_an_error(project: Path, zone: Zone, server: str) -> None:
    includes = " ".join(f"include:s{i}.example.org" for i in range(6))
    zone.remove("example.org", "TXT").txt("example.org", f"v=spf1 {includes} -all")
    for i in range(6):  # each include costs one lookup, each a: inside it one more
        zone.txt(f"s{i}.example.org", f"v=spf1 a:h{i}.example.org include:spf.mtasv.net -all")
    found = check(postmark(project, server))
    assert any("needs more than 10 DNS lookups" in e for e in errors(found)), found
    assert len(zone.asked) < 60  # bounded: it stops following once the count is over


def test_plus_all_is_an_error(project: Path, zone: Zone, server: str) -> None:
    zone.remove("example.org", "TXT").txt("example.org", "v=spf1 include:spf.mtasv.net +all")
    found = check(postmark(project, server))
    assert "error: SPF: +all in example.org's record lets anyone send as it" in errors(found)


def test_missing_dkim_record(project: Path, zone: Zone, server: str) -> None:
    zone.remove("pm._domainkey.example.org", "TXT")
    found = check(postmark(project, server))
    assert about(found, "DKIM")[0][0] == "error"
    assert "no DKIM key at pm._domainkey.example.org" in about(found, "DKIM")[0][1]


def test_smtp_dkim_key_matches_the_configured_private_key(
    project: Path,
    zone: Zone,
    server: str,
    keys: tuple[tuple[bytes, str], tuple[bytes, str]],
) -> None:
    (project / "dkim.pem").write_bytes(keys[0][0])
    zone.txt("news._domainkey.example.org", f"v=DKIM1; k=rsa; p={keys[0][1]}")
    smtp = 'dkim_selector = "news"\ndkim_domain = "example.org"\ndkim_key_file = "dkim.pem"'
    found = check(configure(project, server, "smtp", smtp=smtp))
    assert about(found, "DKIM") == [
        ("ok", "the key at news._domainkey.example.org matches dkim.pem")
    ]
    assert (
        "ok",
        "example.org's SPF passes the relay smtp.example.org (192.0.2.25)",
    ) in about(found, "SPF")
    assert errors(found) == []


def test_smtp_dkim_key_mismatch_is_an_error(
    project: Path,
    zone: Zone,
    server: str,
    keys: tuple[tuple[bytes, str], tuple[bytes, str]],
) -> None:
    (project / "dkim.pem").write_bytes(keys[0][0])
    zone.txt("news._domainkey.example.org", f"v=DKIM1; k=rsa; p={keys[1][1]}")
    smtp = 'dkim_selector = "news"\ndkim_domain = "example.org"\ndkim_key_file = "dkim.pem"'
    found = check(configure(project, server, "smtp", smtp=smtp))
    assert about(found, "DKIM") == [
        (
            "error",
            "the DKIM record at news._domainkey.example.org: its p= is not the public half of "
            f"{project / 'dkim.pem'}: receivers fail every signature",
        )
    ]


def test_a_relay_outside_spf_is_a_warning(project: Path, zone: Zone, server: str) -> None:
    zone.remove("smtp.example.org", "A").add("smtp.example.org", "A", "192.0.2.99")
    found = check(configure(project, server, "smtp"))
    spf = about(found, "SPF")
    assert spf[-1][0] == "warning"
    assert "gives softfail for the relay smtp.example.org (192.0.2.99)" in spf[-1][1]


def test_missing_dmarc_is_an_error(project: Path, zone: Zone, server: str) -> None:
    zone.remove("_dmarc.example.org", "TXT")
    found = check(postmark(project, server))
    assert about(found, "DMARC") == [
        (
            "error",
            "_dmarc.example.org has no DMARC record: publish v=DMARC1; p=none at "
            "_dmarc.example.org",
        )
    ]


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ("none", "receivers report failures but still deliver them"),
        ("quarantine", "receivers put failing mail in spam"),
        ("reject", "receivers refuse failing mail"),
    ],
)
def test_dmarc_policy_in_plain_words(
    project: Path, zone: Zone, server: str, policy: str, words: str
) -> None:
    zone.remove("_dmarc.example.org", "TXT").txt("_dmarc.example.org", f"v=DMARC1; p={policy}")
    (level, message), *_ = about(check(postmark(project, server)), "DMARC")
    assert level == "ok"
    assert message.startswith(f"_dmarc.example.org: p={policy}: {words}")


def test_a_subdomain_inherits_the_organisations_dmarc(
    project: Path, zone: Zone, server: str
) -> None:
    zone.remove("_dmarc.example.org", "TXT")
    zone.txt("_dmarc.example.org", "v=DMARC1; p=reject; sp=quarantine")
    zone.txt("news.example.org", "v=spf1 include:spf.mtasv.net -all")
    path = postmark(project, server).path
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("news@example.org>", "news@news.example.org>"), encoding="utf-8")
    found = check(settings_module.load(path))
    assert about(found, "DMARC")[0][1].startswith("_dmarc.example.org: p=quarantine")


def test_misaligned_from_is_an_error(project: Path, zone: Zone, server: str) -> None:
    """Mailgun bounces to and signs for its own domain: another organisation's aligns with
    nothing, and strict alignment refuses even a subdomain."""
    zone.txt("mg.example.com", "v=spf1 include:mailgun.org -all")
    zone.txt("mx._domainkey.mg.example.com", "v=DKIM1; k=rsa; p=" + base64.b64encode(b"x").decode())
    tables = 'dkim_selector = "mx"\n\n[providers.mailgun]\ndomain = "mg.example.com"'
    found = check(configure(project, server, "mailgun", tables))
    assert ("ok", "mg.example.com includes mailgun.org (Mailgun's senders)") in about(found, "SPF")
    ((level, message),) = about(found, "alignment")
    assert level == "error"
    assert message == (
        "From example.org: SPF domain mg.example.com not aligned (relaxed), DKIM "
        "d=mg.example.com not aligned (relaxed); DMARC fails for every message"
    )


def test_strict_alignment_refuses_a_subdomain(project: Path, zone: Zone, server: str) -> None:
    zone.txt("mg.example.org", "v=spf1 include:mailgun.org -all")
    zone.txt("mx._domainkey.mg.example.org", "v=DKIM1; k=rsa; p=AAAA")
    tables = 'dkim_selector = "mx"\n\n[providers.mailgun]\ndomain = "mg.example.org"'
    settings = configure(project, server, "mailgun", tables)
    assert about(check(settings), "alignment")[0][0] == "ok"  # relaxed: same organisation
    zone.remove("_dmarc.example.org", "TXT")
    zone.txt("_dmarc.example.org", "v=DMARC1; p=reject; adkim=s; aspf=s")
    settings = configure(project, server, "mailgun", tables)
    ((level, message),) = about(check(settings), "alignment")
    assert level == "error"
    assert "mg.example.org not aligned (strict)" in message


def test_an_unsubscribe_host_that_does_not_resolve(project: Path, zone: Zone, server: str) -> None:
    zone.remove("example.org", "A")
    found = check(postmark(project, server))
    assert about(found, "unsubscribe") == [
        (
            "error",
            "the unsubscribe host example.org does not resolve (it has no A or AAAA record): "
            "every one-click unsubscribe fails, and receivers count that against you",
        )
    ]


def test_an_http_unsubscribe_link_is_no_one_click(project: Path, server: str) -> None:
    path = postmark(project, server).path
    text = path.read_text(encoding="utf-8").replace(
        'unsubscribe_url = "https://', 'unsubscribe_url = "http://'
    )
    path.write_text(text, encoding="utf-8")
    found = check(settings_module.load(path), size=6000)
    assert about(found, "unsubscribe")[0] == (
        "warning",
        "[email] unsubscribe_url http://example.org/innovate/unsubscribe is not https: one-click "
        "unsubscribe (RFC 8058) needs https, so Gmail and Yahoo do not offer it",
    )
    bulk = about(found, "Gmail/Yahoo bulk")
    assert ("error", "one-click unsubscribe (RFC 8058) must work, over https: fail") in bulk


def test_below_5000_spf_or_dkim_is_enough(project: Path, zone: Zone, server: str) -> None:
    zone.remove("pm._domainkey.example.org", "TXT")
    found = check(postmark(project, server), size=4999)
    ((level, message),) = about(found, "Gmail/Yahoo")
    assert level == "ok"
    assert message.startswith("4,999 eligible subscribers, under 5,000 a day: every sender")
    assert about(found, "Gmail/Yahoo bulk") == []


def test_at_5000_the_bulk_rules_need_spf_and_dkim(project: Path, zone: Zone, server: str) -> None:
    zone.remove("pm._domainkey.example.org", "TXT")
    found = check(postmark(project, server), size=5000)
    assert about(found, "Gmail/Yahoo")[0][1].startswith(
        "5,000 eligible subscribers: a bulk sender (5,000"
    )
    bulk = about(found, "Gmail/Yahoo bulk")
    assert ("error", "SPF and DKIM must both pass (SPF pass, DKIM fail): fail") in bulk
    assert ("ok", "a DMARC record must exist, p=none at least: pass") in bulk
    assert ("ok", "one-click unsubscribe (RFC 8058) must work, over https: pass") in bulk
    assert bulk[-1][0] == "note" and "0.3%" in bulk[-1][1]


def test_the_bulk_rules_pass_for_a_good_domain(project: Path, server: str) -> None:
    bulk = about(check(postmark(project, server), size=20_000), "Gmail/Yahoo bulk")
    assert [level for level, _ in bulk] == ["ok", "ok", "ok", "ok", "note"]


def test_an_unknown_list_size_is_checked_as_bulk(project: Path, server: str) -> None:
    found = check(postmark(project, server), size=None)
    assert about(found, "Gmail/Yahoo")[0][1].startswith("unknown; checked as a bulk sender")


def test_a_dns_server_that_does_not_answer_is_a_finding(project: Path) -> None:
    server = f"127.0.0.1:{free_port()}"  # nobody listens there
    found = check(configure(project, server, extra='dkim_selector = "pm"', timeout=0.1))
    failed = "error: SPF: the TXT lookup of example.org failed: no answer within 0.1 s"
    assert failed in errors(found)
    assert "error: DMARC: the TXT lookup of _dmarc.example.org failed" in "\n".join(errors(found))


def test_servfail_is_a_finding(project: Path, zone: Zone, server: str) -> None:
    zone.servfail.add("_dmarc.example.org")
    found = check(postmark(project, server))
    assert about(found, "DMARC") == [
        (
            "error",
            "the TXT lookup of _dmarc.example.org failed: the name server failed to answer "
            "(SERVFAIL or refused)",
        )
    ]


def test_a_long_answer_comes_over_tcp(
    project: Path,
    zone: Zone,
    server: str,
    keys: tuple[tuple[bytes, str], tuple[bytes, str]],
) -> None:
    notes = "x" * 600  # with n= (notes) the record does not fit in 512 bytes of UDP
    zone.remove("pm._domainkey.example.org", "TXT")
    zone.txt("pm._domainkey.example.org", f"v=DKIM1; k=rsa; n={notes}; p={keys[0][1]}")
    found = check(postmark(project, server))
    assert about(found, "DKIM")[0][0] == "ok"
    assert ("pm._domainkey.example.org", "TXT", "tcp") in zone.asked


def test_the_dns_server_setting_is_checked(project: Path) -> None:
    with pytest.raises(SettingsError, match=r"dns_server must be an IP address"):
        configure(project, "dns.example.org:53")
    with pytest.raises(SettingsError, match=r"port that is not between 1 and 65535"):
        configure(project, "127.0.0.1:70000")


def test_the_api_counts_the_eligible_list(project: Path, server: str) -> None:
    settings = postmark(project, server)
    csv = project / "subscribers.example.csv"
    found = api.check_deliverability(settings, subscribers=csv)
    ((level, message),) = about(found, "Gmail/Yahoo")
    assert level == "ok"
    eligible = len(api.eligible(settings, api.subscribers.read_list(settings, csv)))
    assert message.startswith(f"{eligible} eligible subscribers, under 5,000")
    missing = api.check_deliverability(settings)  # no subscribers.csv in the project
    assert about(missing, "Gmail/Yahoo")[0][1].startswith(
        f"the list's size is unknown (no subscriber list at {project / 'subscribers.csv'})"
    )
