"""The test identity provider: the npm package oidc-provider (tools/oidc-provider/), a real
OpenID Connect provider started as its own process, and a scripted sign-in through it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.processes import ROOT, free_port

PROVIDER_DIR = ROOT / "tools" / "oidc-provider"
CLIENT_ID = "customer-service"
CLIENT_SECRET = "test-provider-client-secret"
# Who the provider knows, and their groups there.
ACCOUNTS = {
    "anna": {
        "email": "anna@acme.example",
        "given_name": "Anna",
        "family_name": "Berg",
        "groups": ["Sales DE", "Unmapped"],
    },
    "newbie": {"email": "newbie@acme.example", "groups": ["Sales DE"]},
    "oddgroups": {"email": "odd@acme.example", "groups": "Sales DE"},
    "nogroups": {"email": "none@acme.example"},
}


@dataclass
class RunningProvider:
    issuer: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET


def why_no_provider() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Debian's nodejs)"
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        return "tools/oidc-provider has no node_modules: run `make dev-install` (npm ci)"
    return None


@contextmanager
def identity_provider(tmp_path: Path, redirect_uris: list[str]):
    """The provider, listening on a free loopback port until the block ends."""
    reason = why_no_provider()
    if reason:
        pytest.skip(reason)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = tmp_path / "identity-provider.json"
    config.write_text(
        json.dumps(
            {
                "port": port,
                "issuer": issuer,
                "clients": [
                    {
                        "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET,
                        "redirect_uris": redirect_uris,
                    }
                ],
                "accounts": ACCOUNTS,
            }
        )
    )
    process = subprocess.Popen(  # noqa: S603 - our own script
        ["node", "server.mjs", str(config)],  # noqa: S607 - node from PATH
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("ready "):
                break
            if not line and process.poll() is not None:
                raise RuntimeError("the test identity provider exited before it was ready")
        else:
            raise RuntimeError("the test identity provider did not start in 30 s")
        yield RunningProvider(issuer)
    finally:
        process.terminate()
        process.wait(timeout=10)


def sign_in(session: requests.Session, start_url: str, login: str) -> requests.Response:
    """Follow a sign-in from the service's start URL through the provider's login page as
    ``login``, back to the service's callback; the callback's answer (not followed)."""
    answer = session.get(start_url, allow_redirects=False, timeout=10)
    for _ in range(10):
        if answer.status_code not in (302, 303):
            break
        location = urljoin(answer.url, answer.headers["Location"])
        if "/sso/" in location and "/callback" in location:
            return session.get(location, allow_redirects=False, timeout=10)
        answer = session.get(location, allow_redirects=False, timeout=10)
        if answer.status_code == 200 and 'name="prompt" value="login"' in answer.text:
            answer = session.post(
                answer.url,
                data={"prompt": "login", "login": login, "password": "any"},
                allow_redirects=False,
                timeout=10,
            )
    return answer
