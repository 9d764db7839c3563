"""The README's API walkthrough, run as written: its shell block, with only the base URL and the
demo client's credentials filled in, against a real server on the seeded demo. A README that
drifts from the service fails here."""

import io
import re
import shutil
import subprocess

import pytest
from django.core.management import call_command

from config import settings as project_settings
from tests.processes import ROOT, production_server

pytestmark = pytest.mark.django_db(transaction=True)
MARKER = "<!-- walkthrough:"


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    after = readme[readme.index(MARKER) :]
    block = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    return block.group(1)


def filled_in(script: str, base: str, client_id: str, secret: str) -> str:
    replaced = {
        "BASE": base,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
    }
    lines = []
    for line in script.splitlines():
        name = line.split("=", 1)[0]
        if name in replaced and "=" in line:
            lines.append(f"{name}={replaced.pop(name)}")
        else:
            lines.append(line)
    assert not replaced, f"the walkthrough no longer sets {sorted(replaced)}"
    return "\n".join(lines)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough uses curl")
def test_the_readmes_walkthrough_works_pasted_line_by_line(tmp_path, settings):
    # The server checks the demo passwords with the hashers it is deployed with.
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    out = io.StringIO()
    call_command("seed_demo", "--customers", "80", stdout=out)
    unrestricted = re.search(
        r"demo-unrestricted: client_id=(\S+) client_secret=(\S+)", out.getvalue()
    )
    with production_server(tmp_path) as (base, _log):
        script = filled_in(walkthrough(), base, *unrestricted.groups())
        # Every request must succeed, as it does for a reader pasting the lines.
        strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
        run = subprocess.run(  # noqa: S603 - bash running the README's own lines
            ["bash", "-c", strict + script],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    output = run.stdout
    assert "X-Total-Count: 80" in output  # the list, with its headers
    assert '{"id":"WALK-1"}' in output  # created
    assert output.count('"lastName":"Lovelace"') == 3  # patched, read back, read as de_agent
    assert '"contactPhone":"+49 30 1234567"' in output
    assert output.rstrip().endswith("[]")  # de_agent's FR search finds nothing
