"""gunicorn settings for `make serve` and deployments, from the environment.

    gunicorn -c config/gunicorn.py config.wsgi

- ``PORT`` (8000) and ``BIND_HOST`` (127.0.0.1; 0.0.0.0 in a container behind a proxy)
- ``WEB_CONCURRENCY``: worker processes (default 2 x cores + 1, the usual figure for work that
  waits on the database); ``GUNICORN_THREADS`` per worker (1)
- ``GUNICORN_TIMEOUT`` (30 s: a request is also limited by the 5 s statement time limit),
  ``GUNICORN_GRACEFUL_TIMEOUT`` (30 s), ``GUNICORN_KEEPALIVE`` (5 s)
- ``GUNICORN_MAX_REQUESTS`` (2000, with up to 10 % jitter): workers are replaced regularly
- ``GUNICORN_PRELOAD`` (1): the application is imported once, in the master, and the workers
  fork from it: a replaced worker serves at once instead of importing Django again (a second
  of a core while the others take its share, a source of the slowest answers), and the
  objects of that import are frozen out of the garbage collector's scans (``gc.freeze``). Set
  0 to import in each worker (then a code change needs only a ``HUP``)
- ``PROMETHEUS_MULTIPROC_DIR``: where workers share their metrics (a fresh temporary directory
  when unset), so /metrics adds up every worker

A request gunicorn cannot read itself (a request line over 4,094 bytes, too many or too large
headers, a malformed line) is answered with the service's JSON error body, as every other
error, not gunicorn's HTML page.
"""

import gc
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from gunicorn import util as gunicorn_util

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core.error_bodies import error_body


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = f"{os.environ.get('BIND_HOST', '127.0.0.1')}:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1)
threads = _int("GUNICORN_THREADS", 1)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - heartbeat files
accesslog = None  # the application writes one line per request (core.observability)
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

_own_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_dir = tempfile.mkdtemp(prefix="metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it could not read, as the JSON error body."""
    message = f"The request could not be read: {mesg}." if mesg else None
    body = json.dumps(error_body(status_int, message)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn_util.write_error = write_json_error  # (its one writer of error pages)


# prometheus_client decides at import whether values live in shared files: the directory must be
# in the environment before the first import (here, in the master, before workers fork).
from prometheus_client import multiprocess  # noqa: E402


def pre_fork(server, worker):
    if preload_app:
        gc.freeze()  # (what the master holds now is shared with the workers, not scanned by them)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
