"""What the row-level security policies cost: the read benchmark's requests (the project's side)
run as a superuser, whom the policies do not bind, and as a service role under them; the runs
alternate, and each side's p50 is the median over its runs.

    python bench/row_security.py [--customers 1000000] [--rounds 60] [--runs 2] [--write-docs]

Uses the read benchmark's database of that size (``bench/read_path.py`` loads it) and makes two
roles there (as the read benchmark does):
``bench_service`` (login, neither superuser nor BYPASSRLS) and ``bench_search`` (no login,
BYPASSRLS), which owns the trigram search and count functions, as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bulk_assign import ROOT, machine, setup_django, write_docs_section
from read_path import DEFAULT_URL, prepare_roles, size_url


def prepare(url: str) -> str:
    """Migrate as the superuser, (re)make the two roles; the service role's URL."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    return prepare_roles(url)


def run(url: str, customers: int, rounds: int) -> dict[str, dict]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(  # noqa: S603 - the read benchmark, with our own arguments
            [
                sys.executable,
                str(ROOT / "bench" / "read_path.py"),
                "--customers",
                str(customers),
                "--rounds",
                str(rounds),
                "--url",
                url,
                "--json",
                out.name,
            ],
            cwd=ROOT,
            check=True,
        )
        return {r["label"]: r for r in json.loads(Path(out.name).read_text())}


def report(off: list[dict], on: list[dict]) -> str:
    lines = [
        "| request | policies bypassed p50 (ms) | policies on p50 (ms) | statements off / on | "
        "ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label in off[0]:
        without = statistics.median(run[label]["p50"] for run in off)
        with_ = statistics.median(run[label]["p50"] for run in on)
        queries = f"{off[0][label]['queries']} / {on[0][label]['queries']}"
        lines.append(
            f"| {label} | {without:.1f} | {with_:.1f} | {queries} | {with_ / without:.2f}x |"
        )
    lines += [
        "",
        f"- {len(off)} alternating runs per side; p50 is the median of the runs' p50s",
        f"- machine: {machine()}",
        f"- measured {datetime.now(UTC):%Y-%m-%d}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--url", default=os.environ.get("BENCH_READ_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    args.url = size_url(args.url, args.customers)
    service_url = prepare(args.url)
    setup_django(args.url)  # (for the machine line)
    off, on = [], []
    for _ in range(args.runs):
        off.append(run(args.url, args.customers, args.rounds))
        on.append(run(service_url, args.customers, args.rounds))
    text = report(off, on)
    print(text)
    if args.write_docs:
        write_docs_section("rls-bench", text)


if __name__ == "__main__":
    main()
