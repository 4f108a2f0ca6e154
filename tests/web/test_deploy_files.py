"""The examples in deploy/: valid units, and proxies reaching every route the way serve expects."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from innovate_news.errors import ExitCode
from innovate_news.web.server import Running
from tests.support import REPO

DEPLOY = REPO / "deploy"
PROJECT = "/srv/innovate-news"
ROUTES = re.compile(r'@app\.(?:get|post|route)\("(/[a-z]+)')


def unit(name: str) -> configparser.RawConfigParser:
    """A systemd unit read as INI: case kept, repeated keys allowed (the last one wins here)."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text())
    return parser


def app_routes() -> set[str]:
    """Every path the list service answers, from its route decorators."""
    source = (REPO / "innovate_news" / "web" / "app.py").read_text()
    return {path for path in ROUTES.findall(source) if path != "/"}


def test_serve_unit_has_secrets_from_a_file_and_hardening() -> None:
    service = unit("innovate-news-serve.service")["Service"]
    assert service["EnvironmentFile"] == "/etc/innovate-news/env"
    assert service["User"] not in {"", "root"}
    assert service["ExecStart"].endswith("serve --host 127.0.0.1 --port 8080")
    assert service["ExecStart"].startswith(f"{PROJECT}/.venv/bin/innovate-news ")
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert service["ReadWritePaths"].split() == [f"{PROJECT}/.innovate-news"]
    assert "Environment" not in service  # no secret written into the unit itself
    assert unit("innovate-news-serve.service")["Install"]["WantedBy"] == "multi-user.target"


def test_build_timer_runs_the_build_service() -> None:
    timer = unit("innovate-news-build.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == "yes"
    service = unit("innovate-news-build.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"].endswith(" build")
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"


def test_send_timer_runs_due_sends_and_a_window_end_is_no_failure() -> None:
    timer = unit("innovate-news-send.timer")["Timer"]
    assert timer["OnCalendar"] and timer["Persistent"] == "yes"
    service = unit("innovate-news-send.service")["Service"]
    assert service["Type"] == "oneshot" and service["ExecStart"].endswith(" send --due")
    assert service["SuccessExitStatus"].split() == [str(int(ExitCode.WINDOW))]
    assert service["KillSignal"] == "SIGINT"  # a stop lets the hand-overs in flight finish
    assert service["EnvironmentFile"] == "/etc/innovate-news/env"
    assert service["ReadWritePaths"].split() == [f"{PROJECT}/.innovate-news"]
    cron = (DEPLOY / "innovate-news-send.service").read_text()
    assert re.search(
        r"^#\s+\*/15 \* \* \* \*  cd /srv/innovate-news && .* \S+ send --due$", cron, re.M
    )


def test_environment_file_names_only_known_variables() -> None:
    lines = (DEPLOY / "innovate-news.env.example").read_text().splitlines()
    names = {m.group(1) for line in lines if (m := re.match(r"#?([A-Z_]+)=", line))}
    assert {"INNOVATE_NEWS_SECRET", "INNOVATE_NEWS_DATABASE_URL"} <= names
    readme = (REPO / "README.md").read_text()
    assert all(name.startswith("INNOVATE_NEWS_") and name in readme for name in names)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    for path in DEPLOY.glob("*.service"):
        # The installed command is here, not in /srv: verify checks that ExecStart exists.
        text = path.read_text().replace(f"{PROJECT}/.venv/bin", str(Path(sys.executable).parent))
        (tmp_path / path.name).write_text(text)
    for timer in DEPLOY.glob("*.timer"):
        shutil.copy(timer, tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # An unknown or misspelt key is only a warning: any output at all fails the test.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_nginx_snippet_proxies_every_route_with_the_client_address() -> None:
    text = (DEPLOY / "nginx-innovate-news.conf").read_text()
    pattern = re.search(r"location ~ (\S+) \{", text)
    assert pattern is not None
    for route in app_routes():
        assert re.match(
            pattern.group(1), f"/innovate{route}" + ("/postmark" * (route == "/webhooks"))
        )
    assert not re.match(pattern.group(1), "/innovate/index.html")
    assert "proxy_pass http://127.0.0.1:8080;" in text
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed (not needed)")
def test_nginx_accepts_the_snippet(tmp_path: Path) -> None:
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:8443;\n"
        f"include {DEPLOY / 'nginx-innovate-news.conf'}; }} }}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-c", str(config), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_caddyfile_proxies_every_route() -> None:
    text = (DEPLOY / "Caddyfile").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert body.count("{") == body.count("}")
    assert re.search(r"^example\.org \{$", body, re.MULTILINE)
    matcher = re.search(r"@list path (.+)", body)
    assert matcher is not None
    paths = set(matcher.group(1).split())
    for route in app_routes():
        assert f"/innovate{route}" in paths or f"/innovate{route}/*" in paths, route
    assert "uri strip_prefix /innovate" in body
    assert "reverse_proxy 127.0.0.1:8080" in body


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy not installed (not needed)")
def test_caddy_adapts_the_caddyfile() -> None:
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["apps"]["http"]


def test_serve_believes_the_proxys_forwarded_for() -> None:
    """What both snippets rely on: behind trusted_proxy, the client is X-Forwarded-For's."""

    def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['REMOTE_ADDR']} {environ['wsgi.url_scheme']}".encode()]

    with Running(echo, trusted_proxy="127.0.0.1") as server:
        headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        answer = requests.get(server.url + "subscribe", headers=headers, timeout=5)
        assert answer.text == "203.0.113.7 https"
