"""Access reviews: a frozen snapshot of who holds what in a tenant, decided line by line.

:func:`access_review_start` copies, in a constant number of queries, every active employee's
standing groups and temporary grants and every active API client's scopes (standing and
temporary) into :class:`AccessReviewLine` rows, written in batches, and shares the identities
out among the reviewers (nobody reviews their own lines). :func:`review_lines_decide` keeps or
revokes lines: a revoke goes through the identity services (immediate, audited with the channel
"access review"), a keep is one ``UPDATE``. The review closes when its last line is decided;
a closed review is read-only and its report (:func:`review_report`) says who decided what,
when, and what changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts import holdings
from accounts.holdings import Holding
from accounts.models import (
    AccessChange,
    AccessReview,
    AccessReviewLine,
    Employee,
)
from accounts.principal import Principal
from accounts.scopes import Grants
from accounts.services import identities as services
from accounts.services import temporary_access
from core.channels import Channel
from core.errors import ConflictError, DoesNotExist, InvalidInput, ServiceError
from tenancy.models import Tenant
from tenancy.services import restriction_tree

Decision = AccessReviewLine.Decision
LineHolding = AccessReviewLine.Holding
SubjectKind = AccessChange.SubjectKind
BATCH_SIZE = 2000
CLOSED = "This access review is closed; its report is read-only."


def _words(restrictions: Iterable[str]) -> str:
    values = sorted(set(restrictions))
    return f" {' '.join(values)} " if values else ""


def _window(line: AccessReviewLine, held: Holding | None) -> AccessReviewLine:
    if held is not None and not held.standing:
        line.temporary_grant_id = held.grant_id
        line.valid_from = held.valid_from
        line.valid_until = held.valid_until
        line.break_glass = held.break_glass
    return line


def _group_line(review, employee, held: Holding):
    group = held.group
    line = AccessReviewLine(
        review=review,
        tenant_id=review.tenant_id,
        subject_kind=SubjectKind.EMPLOYEE,
        subject_id=str(employee.pk),
        subject_name=employee.username,
        employee_id=employee.pk,
        holding=LineHolding.GROUP,
        group_id=group.pk,
        group_name=group.name,
        scopes=list(group.scopes),
        restrictions=list(group.restrictions),
        restriction_words=_words(group.restrictions),
        last_token_at=employee.last_token_at,
    )
    return _window(line, held)


def _scope_line(review, subject_kind, identity, name: str, scope: str, held: Holding | None):
    suffix = Grants.from_strings([scope]).coverage
    restrictions = sorted({r for coverage in suffix.values() for r in coverage.restrictions})
    line = AccessReviewLine(
        review=review,
        tenant_id=review.tenant_id,
        subject_kind=subject_kind,
        subject_id=identity.client_id
        if subject_kind == SubjectKind.API_CLIENT
        else str(identity.pk),
        subject_name=name,
        employee_id=identity.pk if subject_kind == SubjectKind.EMPLOYEE else None,
        api_client_id=identity.pk if subject_kind == SubjectKind.API_CLIENT else None,
        holding=LineHolding.SCOPE,
        scopes=[scope],
        restrictions=restrictions,
        restriction_words=_words(restrictions),
        last_token_at=identity.last_token_at,
    )
    return _window(line, held)


def _snapshot(review: AccessReview, held: holdings.TenantHoldings) -> Iterator[AccessReviewLine]:
    """Every active identity of the tenant and what it holds: standing, current and starting
    later (a grant that starts tomorrow is a line with its start)."""
    for employee, holds in held.employees.values():
        for item in holds.items:
            if item.group is not None:
                yield _group_line(review, employee, item)
            else:
                scope = item.scopes[0]
                yield _scope_line(
                    review, SubjectKind.EMPLOYEE, employee, employee.username, scope, item
                )
    for client, holds in held.api_clients.values():
        for item in holds.items:
            for scope in item.scopes:
                yield _scope_line(review, SubjectKind.API_CLIENT, client, client.name, scope, item)


def _check_reviewers(tenant: Tenant, reviewers: list[Employee]) -> None:
    administrators = set(holdings.tenant_administrators(tenant.pk).values_list("pk", flat=True))
    wrong = sorted(r.username for r in reviewers if r.pk not in administrators)
    if wrong:
        raise InvalidInput(
            f"Reviewers are active tenant administrators of {tenant.code}; "
            f"not: {', '.join(wrong)}.",
            field="reviewers",
        )


@dataclass(frozen=True)
class _Coverage:
    """What each identity of a tenant holds now, and what each may decide (keep or revoke):
    the identities whose holdings their standing grants cover (the identity services'
    no-take-over rule), all in the tenant's tree."""

    holds: dict[tuple[str, str], Grants]
    below: dict | None

    @classmethod
    def of(cls, tenant: Tenant, held: holdings.TenantHoldings) -> _Coverage:
        holds = {}
        for employee, items in held.employees.values():
            holds[(SubjectKind.EMPLOYEE, str(employee.pk))] = items.at()
        for client, items in held.api_clients.values():
            holds[(SubjectKind.API_CLIENT, client.client_id)] = items.at()
        return cls(holds, restriction_tree(tenant.pk, tenant.tree_version))

    def covers(self, power: Grants, line: AccessReviewLine) -> bool:
        held = self.holds.get((line.subject_kind, line.subject_id))
        return held is None or power.covers_grants(held.expanded(self.below))


def _assign(
    lines: list[AccessReviewLine], reviewers: list[Employee], coverage: _Coverage, powers
) -> None:
    """Each identity's lines to one reviewer who covers it, in turn; never to the identity
    itself. Lines nobody chosen covers stay unassigned, for any tenant administrator who
    does."""
    if not reviewers:
        return
    turn = 0
    chosen: dict[tuple[str, str], Employee | None] = {}
    for line in lines:
        key = (line.subject_kind, line.subject_id)
        if key not in chosen:
            candidates = [
                r
                for r in reviewers
                if line.employee_id != r.pk and coverage.covers(powers[r.pk], line)
            ]
            chosen[key] = candidates[turn % len(candidates)] if candidates else None
            turn += 1
        reviewer = chosen[key]
        if reviewer is not None:
            line.reviewer_id = reviewer.pk
            line.reviewer_name = reviewer.username


@transaction.atomic
def access_review_start(
    *,
    actor: Principal,
    channel: Channel,
    tenant: Tenant,
    name: str = "",
    reviewers: list[Employee] | None = None,
) -> AccessReview:
    """Freeze who holds what in ``tenant`` now and share it out among ``reviewers`` (tenant
    administrators; default: the actor, when an employee of the tenant)."""
    services.administers(actor, tenant.pk)
    if reviewers is None:
        reviewers = (
            list(Employee.objects.filter(pk=actor.id, tenant=tenant)) if actor.id.isdigit() else []
        )
    _check_reviewers(tenant, reviewers)
    started = timezone.now()
    review = AccessReview.objects.create(
        tenant=tenant,
        name=name or f"Access review {started:%Y-%m-%d %H:%M}",
        started_by_kind=actor.kind,
        started_by_id=actor.id,
        started_by_name=actor.name,
    )
    held = holdings.of_tenant(tenant.pk)
    lines = list(_snapshot(review, held))
    lines.sort(key=lambda line: (line.subject_kind, line.subject_name.lower(), line.group_name))
    coverage = _Coverage.of(tenant, held)
    below = coverage.below
    powers = {
        pk: items.standing().expanded(below)
        for pk, (_, items) in held.employees.items()
        if pk in {r.pk for r in reviewers}
    }
    _assign(lines, sorted(reviewers, key=lambda r: r.username), coverage, powers)
    for start in range(0, len(lines), BATCH_SIZE):
        AccessReviewLine.objects.bulk_create(lines[start : start + BATCH_SIZE])
    if not lines:
        review.status = AccessReview.Status.CLOSED
        review.closed_at = started
        review.save(update_fields=["status", "closed_at"])
    return review


@dataclass
class Decided:
    kept: int = 0
    revoked: int = 0
    skipped: list[str] = field(default_factory=list)  # why lines were left as they were
    closed: bool = False


def _revoke(actor: Principal, line: AccessReviewLine) -> str:
    """Take the line's access away through the identity services; what changed."""
    channel = Channel.REVIEW
    if line.temporary_grant_id is not None or line.valid_until is not None:
        if line.temporary_grant_id is None:
            return "already expired"
        gone = temporary_access.temporary_grant_revoke(
            actor=actor, channel=channel, grant_pk=line.temporary_grant_id
        )
        return "temporary grant revoked" if gone else "already expired"
    if line.employee_id is not None and line.holding == LineHolding.GROUP:
        employee = services.locked_employee(actor, line.employee_id)
        groups = list(employee.access_groups.all())
        if line.group_id not in {group.pk for group in groups}:
            return "already removed"
        services.employee_update(
            actor=actor,
            channel=channel,
            employee_pk=employee.pk,
            fields={},
            access_groups=[group for group in groups if group.pk != line.group_id],
        )
        return f"removed from group {line.group_name}"
    if line.api_client_id is not None:
        client = services.locked_api_client(actor, line.api_client_id)
        scope = line.scopes[0]
        if scope not in client.scopes:
            return "already removed"
        services.api_client_update(
            actor=actor,
            channel=channel,
            client_pk=client.pk,
            name=client.name,
            scopes=[held for held in client.scopes if held != scope],
            is_active=client.is_active,
        )
        return f"scope {scope} removed"
    return "identity gone"


def _may_decide(actor: Principal, line: AccessReviewLine, power: Grants, coverage) -> str | None:
    """Why ``actor`` may not decide ``line`` (None: they may). Keep and revoke need the same:
    the line is theirs to review, and they hold for good what its identity holds."""
    if line.decision:
        return f"{line}: already decided"
    if line.employee_id is not None and actor.id == str(line.employee_id):
        return f"{line}: nobody reviews their own access"
    if line.reviewer_id is not None and str(line.reviewer_id) != actor.id and not actor.is_platform:
        return f"{line}: assigned to {line.reviewer_name}"
    if not coverage.covers(power, line):
        return f"{line}: {line.subject_name} holds more than you; {services.TAKE_OVER_REVIEW}"
    return None


def review_lines_decide(
    *, actor: Principal, review_pk: int, line_pks: Iterable[int], decision: str
) -> Decided:
    """Keep or revoke the lines ``line_pks`` of an open review. A line already decided, about
    the actor, or assigned to another reviewer is left as it is (and said so); a revoke the
    identity services refuse leaves its line undecided. Each revoke is its own transaction
    with its line's decision."""
    if decision not in (Decision.KEEP, Decision.REVOKE):
        raise InvalidInput("Decide keep or revoke.", field="decision")
    review = AccessReview.objects.filter(pk=review_pk).first()
    if review is None:
        raise DoesNotExist("This access review no longer exists.")
    services.administers(actor, review.tenant_id)
    if review.status != AccessReview.Status.OPEN:
        raise ConflictError(CLOSED)
    result = Decided()
    tenant = Tenant.objects.get(pk=review.tenant_id)
    coverage = _Coverage.of(tenant, holdings.of_tenant(tenant.pk, active_only=False))
    power = services.lasting_power(actor, tenant.pk)
    lines = AccessReviewLine.objects.filter(review=review, pk__in=list(line_pks))
    decidable = []
    for line in lines.order_by("pk"):
        refusal = _may_decide(actor, line, power, coverage)
        if refusal:
            result.skipped.append(refusal)
        else:
            decidable.append(line)
    who = {"decided_by_id": actor.id, "decided_by_name": actor.name}
    if decision == Decision.KEEP:
        pks = [line.pk for line in decidable]
        with transaction.atomic():
            _open(review.pk)
            for start in range(0, len(pks), BATCH_SIZE):  # (bounded statements on every engine)
                result.kept += AccessReviewLine.objects.filter(
                    pk__in=pks[start : start + BATCH_SIZE], decision=Decision.UNDECIDED
                ).update(decision=Decision.KEEP, decided_at=timezone.now(), **who)
    else:
        for line in decidable:
            try:
                with transaction.atomic():
                    _open(review.pk)
                    outcome = _revoke(actor, line)
                    changed = AccessReviewLine.objects.filter(
                        pk=line.pk, decision=Decision.UNDECIDED
                    ).update(
                        decision=Decision.REVOKE,
                        decided_at=timezone.now(),
                        outcome=outcome,
                        **who,
                    )
                    if not changed:
                        raise ConflictError(f"{line}: decided by someone else meanwhile")
                result.revoked += 1
            except ConflictError as exc:
                if exc.message == CLOSED:  # closed meanwhile: nothing more is decided
                    raise
                result.skipped.append(f"{line}: {exc.message}")
            except ServiceError as exc:
                result.skipped.append(f"{line}: {exc.message}")
    result.closed = _close_when_decided(review.pk)
    return result


def _open(review_pk: int) -> AccessReview:
    review = AccessReview.objects.select_for_update().get(pk=review_pk)
    if review.status != AccessReview.Status.OPEN:
        raise ConflictError(CLOSED)
    return review


@transaction.atomic
def _close_when_decided(review_pk: int) -> bool:
    review = AccessReview.objects.select_for_update().get(pk=review_pk)
    if review.status == AccessReview.Status.CLOSED:
        return True
    if AccessReviewLine.objects.filter(review_id=review_pk, decision=Decision.UNDECIDED).exists():
        return False
    review.status = AccessReview.Status.CLOSED
    review.closed_at = timezone.now()
    review.save(update_fields=["status", "closed_at"])
    return True


def review_reminders_send(*, actor: Principal, review_pk: int) -> None:
    """Remind the reviewers of an open review of their undecided lines (by the task worker)."""
    from accounts.mail import send_review_reminders

    review = AccessReview.objects.filter(pk=review_pk).first()
    if review is None:
        raise DoesNotExist("This access review no longer exists.")
    services.administers(actor, review.tenant_id)
    if review.status != AccessReview.Status.OPEN:
        raise ConflictError("This access review is closed.")
    transaction.on_commit(lambda: send_review_reminders.enqueue(review.pk))
