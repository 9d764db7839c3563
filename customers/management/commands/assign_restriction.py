"""Bulk restriction assignment: validate everything, then keyset batches through
``customers.services.restriction_assign`` (one UPDATE and one audit insert per batch)."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import CommandError
from django.db.models import Q
from tqdm import tqdm

from accounts.commands import TenantCommand
from accounts.principal import Principal
from core.commands import bad_input
from core.errors import ServiceError
from customers.models import Channel, Customer
from customers.query import QuerySyntaxError, compile_query
from customers.services import (
    AssignmentResult,
    restriction_assign,
    restriction_assign_check,
)
from tenancy.models import Tenant

FILE_CHUNK = 10_000


class Command(TenantCommand):
    help = "Assign (or unset) the restriction of many customers at once, audited, in batches."

    def add_command_arguments(self, parser):
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--restriction", help="The value to assign.")
        target.add_argument("--unset", action="store_true", help="Set the restriction to null.")
        selector = parser.add_mutually_exclusive_group(required=True)
        selector.add_argument("--q", dest="query", help="Customers matching this query.")
        selector.add_argument(
            "--customers-file",
            type=Path,
            help="One customerNumber a line, or CSV with a customerNumber column.",
        )
        selector.add_argument(
            "--from-preferred-site",
            action="store_true",
            help="Each customer gets its preferredSite when that is a valid restriction.",
        )
        selector.add_argument("--all", action="store_true", help="Every customer of the tenant.")
        parser.add_argument(
            "--only-unrestricted",
            action="store_true",
            help="Limit the selection to customers without a restriction.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle_tenant(self, tenant: Tenant, actor: Principal, options) -> None:
        started = time.monotonic()
        if options["batch_size"] < 1:
            raise bad_input("--batch-size must be at least 1.")
        valid = set(tenant.restrictions.values_list("code", flat=True))
        self.valid_codes = sorted(valid)
        targets = self.targets(options, valid)
        selections = list(self.selections(actor, options))

        plan = self.plan(selections, targets)
        try:  # every refusal before the first change (several targets with --from-preferred-site)
            for selection, value in plan:
                restriction_assign_check(actor=actor, customers=selection, value=value)
        except ServiceError as exc:
            raise bad_input(exc.message) from exc

        counted = {"matched": 0, "changed": 0, "batches": 0}
        total = sum(selection.count() for selection, _ in plan)
        progress = tqdm(
            total=total, unit="customer", file=sys.stderr, disable=not sys.stderr.isatty()
        )

        def on_batch(matched: int, changed: int, _last_pk: int) -> None:
            counted["matched"] += matched
            counted["changed"] += changed
            counted["batches"] += 1
            progress.update(matched)

        try:
            for selection, value in plan:
                restriction_assign(
                    actor=actor,
                    customers=selection,
                    value=value,
                    channel=Channel.COMMAND,
                    batch_size=options["batch_size"],
                    dry_run=options["dry_run"],
                    on_batch=on_batch,
                )
        except ServiceError as exc:
            raise bad_input(exc.message) from exc
        except KeyboardInterrupt as exc:
            progress.close()
            self.summary(counted, started, extra_unmatched=0)
            raise CommandError(
                "Interrupted: only whole batches were applied; run again to finish.",
                returncode=130,
            ) from exc
        progress.close()
        skipped = self.skipped_by_preferred_site(selections, targets)
        self.summary(counted, started, extra_unmatched=skipped)

    # -- validation ------------------------------------------------------------------------------

    def targets(self, options, valid: set[str]) -> list[str | None] | None:
        """The target value(s); None means 'each customer's own preferred site'."""
        if options["from_preferred_site"]:
            if options["restriction"] or options["unset"]:
                raise bad_input("--from-preferred-site takes no --restriction or --unset.")
            return None
        if options["unset"]:
            return [None]
        value = options["restriction"]
        if not value:
            raise bad_input("Give --restriction R or --unset.")
        if value not in valid:
            raise bad_input(
                f"Unknown restriction {value!r} in this tenant (valid: "
                f"{', '.join(sorted(valid)) or 'none'})."
            )
        return [value]

    def selections(self, actor: Principal, options) -> Iterator:
        base = Customer.objects.visible_to(actor)
        if options["only_unrestricted"]:
            base = base.filter(restriction__isnull=True)
        if options["query"] is not None:
            try:
                yield base.filter(compile_query(options["query"]))
            except QuerySyntaxError as exc:
                raise bad_input(f"Invalid --q: {exc}") from exc
        elif options["customers_file"] is not None:
            yield from self.file_selections(base, options["customers_file"])
        else:
            yield base

    def file_selections(self, base, path: Path) -> list:
        numbers = list(dict.fromkeys(read_customer_numbers(path)))
        if not numbers:
            raise bad_input(f"{path} lists no customer numbers.")
        chunks = [numbers[i : i + FILE_CHUNK] for i in range(0, len(numbers), FILE_CHUNK)]
        missing: list[str] = []
        for chunk in chunks:  # invisible numbers count as missing (no existence oracle)
            found = set(
                base.filter(customer_number__in=chunk).values_list("customer_number", flat=True)
            )
            missing += [number for number in chunk if number not in found]
        if missing:
            shown = ", ".join(missing[:20])
            more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise bad_input(
                f"{len(missing)} customer number(s) do not exist in the tenant: {shown}{more}."
            )
        return [base.filter(customer_number__in=chunk) for chunk in chunks]

    def plan(self, selections, targets):
        if targets is not None:
            return [(selection, value) for selection in selections for value in targets]
        return [
            (selection.filter(preferred_site=code), code)
            for selection in selections
            for code in self.valid_codes
        ]

    def skipped_by_preferred_site(self, selections, targets) -> int:
        if targets is not None:
            return 0
        return sum(
            selection.exclude(Q(preferred_site__in=self.valid_codes)).count()
            for selection in selections
        )

    def summary(self, counted, started, extra_unmatched: int) -> None:
        result = AssignmentResult(
            counted["matched"] + extra_unmatched, counted["changed"], counted["batches"]
        )
        self.stdout.write(
            f"matched={result.matched} changed={result.changed} unchanged={result.unchanged} "
            f"batches={result.batches} seconds={time.monotonic() - started:.2f}"
        )


def read_customer_numbers(path: Path) -> Iterator[str]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise bad_input(f"Cannot read {path}: {exc.strerror}.") from exc
    with handle:
        first = handle.readline()
        if "customerNumber" in [cell.strip() for cell in first.split(",")]:
            handle.seek(0)
            for row in csv.DictReader(handle):
                number = (row.get("customerNumber") or "").strip()
                if number:
                    yield number
            return
        for line in [first, *handle]:
            number = line.strip()
            if number:
                yield number
