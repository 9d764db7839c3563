"""Lint what must never happen: unscoped customer queries in the API or the admin."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNSCOPED = re.compile(
    r"\b(Customer|Address|Account|RestrictionChange)\.objects\.(?!visible_to\b|manageable_by\b|assignable_by\b)"
)


def test_api_and_admin_never_query_customers_unscoped():
    files = [*ROOT.glob("customers/api/*.py"), *ROOT.glob("customers/admin*.py")]
    assert files
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSCOPED.search(line)
    ]
    assert offenders == []
