"""`make run` refuses at once, changing nothing, when its port is taken (a second `make run`)."""

import shutil
import socket
import subprocess

import pytest

from tests.processes import ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_a_taken_port_is_refused_with_one_clear_line():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = subprocess.run(  # noqa: S603
            ["make", "--no-print-directory", "port-free", f"PORT={port}"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    assert taken.returncode != 0
    assert f"port {port} is in use" in taken.stdout
    assert "make run PORT=" in taken.stdout  # and how to use another port
    free = subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", "port-free", f"PORT={port}"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert free.returncode == 0, free.stdout + free.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_points_the_e_mail_links_at_its_own_port():
    """Links in the access e-mails (sent by the worker, shown by the server) use the port `make
    run` serves on, unless BACK_OFFICE_URL says otherwise."""
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=8820"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    worker = next(line for line in lines if "db_worker" in line)
    server = next(line for line in lines if "runserver 127.0.0.1:8820" in line)
    for line in (worker, server):
        assert "BACK_OFFICE_URL=${BACK_OFFICE_URL:-http://127.0.0.1:8820}" in line, line
