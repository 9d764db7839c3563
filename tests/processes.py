"""Running this project's own management commands as real processes against the test database
(they need committed data: use ``django_db(transaction=True)``)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database the tests are using right now."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url(), **extra}


def manage(*arguments: str, **kwargs) -> subprocess.Popen:
    """``python manage.py ARGUMENTS`` in the repository, on the test database."""
    env = kwargs.pop("env", environment())
    return subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *arguments], cwd=ROOT, env=env, **kwargs
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@contextmanager
def production_server(tmp_path: Path, **settings: str) -> Iterator[tuple[str, Path]]:
    """gunicorn as ``make serve`` runs it (DEBUG off, collected static files, two workers) on
    a free loopback port against the test database, with ``settings`` in its environment;
    yields its base URL and log file."""
    env = environment(
        **settings,
        DEBUG="0",
        SECRET_KEY="s" * 50,
        JWT_SIGNING_KEY="j" * 50,
        STATIC_ROOT=str(tmp_path / "static"),
        LOG_FORMAT="json",
        WEB_CONCURRENCY="2",
        PORT=str(free_port()),
    )
    # As deployed by default: config/gunicorn.py makes the workers' shared metrics directory.
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    )
    assert collect.returncode == 0, collect.stderr.decode()
    with gunicorn(env, tmp_path / "server.log") as base:
        yield base, tmp_path / "server.log"


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """gunicorn with ``config/gunicorn.py`` and ``env`` (``PORT`` included), until it answers
    ``/healthz``; yields its base URL and stops it afterwards."""
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603 - the virtualenv's gunicorn
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # (its workers with it: kill_server)
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    _server_groups[base] = process.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if fetch(f"{base}/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        log.close()
        raise RuntimeError("gunicorn did not answer: " + log_path.read_text()[-2000:])
    try:
        yield base
    finally:
        _server_groups.pop(base, None)
        process.terminate()
        process.wait(timeout=30)
        log.close()


_server_groups: dict[str, int] = {}


def kill_server(base: str) -> None:
    """SIGKILL the gunicorn serving ``base``, master and workers at once, as a crash would."""
    os.killpg(_server_groups[base], signal.SIGKILL)
