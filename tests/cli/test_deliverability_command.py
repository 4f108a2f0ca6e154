"""`innovate-news check --deliverability`: one line per finding, exit code 1 on an error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.support.dnsserver import Zone, serving


@pytest.fixture
def server(project: Path) -> Iterator[Zone]:
    """A loopback DNS server the project's settings point at; the zone is set up for Postmark."""
    zone = (
        Zone()
        .txt("example.org", "v=spf1 include:spf.mtasv.net -all")
        .txt("spf.mtasv.net", "v=spf1 ip4:198.51.100.0/24 -all")
        .txt("pm._domainkey.example.org", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQ")
        .txt("_dmarc.example.org", "v=DMARC1; p=quarantine")
        .add("example.org", "A", "192.0.2.10")
    )
    with serving(zone) as address:
        path = project / "innovate-news.toml"
        text = path.read_text(encoding="utf-8")
        text += f'\n[deliverability]\ndns_server = "{address}"\ndkim_selector = "pm"\n'
        path.write_text(text, encoding="utf-8")
        yield zone


def test_a_good_domain_exits_0(run: Callable[..., Result], server: Zone) -> None:
    result = run("check", "--deliverability", "--provider", "postmark")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "ok: SPF: example.org includes spf.mtasv.net (Postmark's senders)" in lines
    assert (
        "ok: DKIM: pm._domainkey.example.org publishes a key (Postmark holds the private key)"
        in lines
    )
    assert all(line.split(":")[0] in ("ok", "note", "warning") for line in lines[:-1])
    assert lines[-1] == "No deliverability errors: see the warnings and notes above, if any."


def test_an_error_exits_1_and_says_what_to_fix(run: Callable[..., Result], server: Zone) -> None:
    server.remove("example.org", "TXT").txt("example.org", "v=spf1 include:sendgrid.net -all")
    server.txt("sendgrid.net", "v=spf1 -all")
    result = run("check", "--deliverability", "--provider", "postmark")
    assert result.exit_code == 1
    assert (
        "error: SPF: example.org's SPF does not include spf.mtasv.net: Postmark's servers fail "
        "SPF for it; add include:spf.mtasv.net before the all"
    ) in result.stdout.splitlines()
    assert result.stderr.strip().endswith("deliverability error(s) found.")
    assert "Traceback" not in result.output


def test_the_list_size_comes_from_subscribers(
    run: Callable[..., Result], server: Zone, project: Path
) -> None:
    result = run(
        "check", "--deliverability", "--provider", "postmark",
        "--subscribers", str(project / "subscribers.example.csv"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "eligible subscribers, under 5,000 a day" in result.stdout


def test_provider_needs_deliverability(run: Callable[..., Result]) -> None:
    result = run("check", "--provider", "postmark")
    assert result.exit_code == 2
    assert "--provider goes with --deliverability" in result.stderr
