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
from django.db.models import Prefetch
from django.utils import timezone

from accounts import services, temporary_access
from accounts.models import (
    AccessChange,
    AccessGroup,
    AccessReview,
    AccessReviewLine,
    ApiClient,
    Employee,
    TemporaryGrant,
)
from accounts.principal import Principal
from accounts.scopes import Grants
from core.channels import Channel
from core.errors import ConflictError, DoesNotExist, InvalidInput, ServiceError
from tenancy.models import Tenant

Decision = AccessReviewLine.Decision
Holding = AccessReviewLine.Holding
SubjectKind = AccessChange.SubjectKind
BATCH_SIZE = 2000
CLOSED = "This access review is closed; its report is read-only."


def _words(restrictions: Iterable[str]) -> str:
    values = sorted(set(restrictions))
    return f" {' '.join(values)} " if values else ""


def _group_line(review, employee, group: AccessGroup, grant: TemporaryGrant | None = None):
    return AccessReviewLine(
        review=review,
        tenant_id=review.tenant_id,
        subject_kind=SubjectKind.EMPLOYEE,
        subject_id=str(employee.pk),
        subject_name=employee.username,
        employee_id=employee.pk,
        holding=Holding.GROUP,
        group_id=group.pk,
        group_name=group.name,
        scopes=list(group.scopes),
        restrictions=list(group.restrictions),
        restriction_words=_words(group.restrictions),
        temporary_grant=grant,
        valid_until=grant.valid_until if grant else None,
        break_glass=bool(grant and grant.break_glass),
        last_token_at=employee.last_token_at,
    )


def _scope_line(review, subject_kind, identity, name: str, scope: str, grant=None):
    suffix = Grants.from_strings([scope]).coverage
    restrictions = sorted({r for coverage in suffix.values() for r in coverage.restrictions})
    return AccessReviewLine(
        review=review,
        tenant_id=review.tenant_id,
        subject_kind=subject_kind,
        subject_id=identity.client_id
        if subject_kind == SubjectKind.API_CLIENT
        else str(identity.pk),
        subject_name=name,
        employee_id=identity.pk if subject_kind == SubjectKind.EMPLOYEE else None,
        api_client_id=identity.pk if subject_kind == SubjectKind.API_CLIENT else None,
        holding=Holding.SCOPE,
        scopes=[scope],
        restrictions=restrictions,
        restriction_words=_words(restrictions),
        temporary_grant=grant,
        valid_until=grant.valid_until if grant else None,
        break_glass=bool(grant and grant.break_glass),
        last_token_at=identity.last_token_at,
    )


def _snapshot(review: AccessReview) -> Iterator[AccessReviewLine]:
    """Every active identity of the tenant, and what it holds now (five queries)."""
    tenant_id = review.tenant_id
    groups = Prefetch("access_groups", queryset=AccessGroup.objects.filter(tenant_id=tenant_id))
    active = Employee.objects.filter(tenant_id=tenant_id, is_active=True, is_superuser=False)
    employees = {e.pk: e for e in active.prefetch_related(groups)}
    for employee in employees.values():
        for group in sorted(employee.access_groups.all(), key=lambda group: group.name):
            yield _group_line(review, employee, group)
    clients = {c.pk: c for c in ApiClient.objects.filter(tenant_id=tenant_id, is_active=True)}
    for client in clients.values():
        for scope in client.scopes:
            yield _scope_line(review, SubjectKind.API_CLIENT, client, client.name, scope)
    temporary = (
        TemporaryGrant.objects.current()
        .filter(tenant_id=tenant_id)
        .select_related("group")
        .order_by("pk")
    )
    for grant in temporary:
        if grant.employee_id in employees:
            employee = employees[grant.employee_id]
            if grant.group_id:
                yield _group_line(review, employee, grant.group, grant)
            else:
                yield _scope_line(
                    review, SubjectKind.EMPLOYEE, employee, employee.username, grant.scope, grant
                )
        elif grant.api_client_id in clients:
            client = clients[grant.api_client_id]
            yield _scope_line(
                review, SubjectKind.API_CLIENT, client, client.name, grant.scope, grant
            )


def _check_reviewers(tenant: Tenant, reviewers: list[Employee]) -> None:
    administrators = set(
        temporary_access.tenant_administrators(tenant.pk).values_list("pk", flat=True)
    )
    wrong = sorted(r.username for r in reviewers if r.pk not in administrators)
    if wrong:
        raise InvalidInput(
            f"Reviewers are active tenant administrators of {tenant.code}; "
            f"not: {', '.join(wrong)}.",
            field="reviewers",
        )


def _assign(lines: list[AccessReviewLine], reviewers: list[Employee]) -> None:
    """Each identity's lines to one reviewer, in turn; never to the identity itself (its
    lines stay unassigned, for any other tenant administrator, when nobody else reviews)."""
    if not reviewers:
        return
    turn = 0
    chosen: dict[tuple[str, str], Employee | None] = {}
    for line in lines:
        key = (line.subject_kind, line.subject_id)
        if key not in chosen:
            candidates = [r for r in reviewers if line.employee_id != r.pk]
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
    lines = list(_snapshot(review))
    lines.sort(key=lambda line: (line.subject_kind, line.subject_name.lower(), line.group_name))
    _assign(lines, sorted(reviewers, key=lambda r: r.username))
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
    if line.employee_id is not None and line.holding == Holding.GROUP:
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


def _may_decide(actor: Principal, line: AccessReviewLine) -> str | None:
    """Why ``actor`` may not decide ``line`` (None: they may)."""
    if line.decision:
        return f"{line}: already decided"
    if line.employee_id is not None and actor.id == str(line.employee_id):
        return f"{line}: nobody reviews their own access"
    if line.reviewer_id is not None and str(line.reviewer_id) != actor.id and not actor.is_platform:
        return f"{line}: assigned to {line.reviewer_name}"
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
    lines = AccessReviewLine.objects.filter(review=review, pk__in=list(line_pks))
    decidable = []
    for line in lines.order_by("pk"):
        refusal = _may_decide(actor, line)
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


REPORT_FIELDS = [
    "identity_kind",
    "identity",
    "holding",
    "group",
    "scopes",
    "restrictions",
    "temporary_until",
    "break_glass",
    "last_token_issued",
    "reviewer",
    "decision",
    "decided_by",
    "decided_at",
    "what_changed",
]


def line_document(line: AccessReviewLine, iso) -> dict:
    """One line as the report and the audit API give it (never a secret or a hash)."""
    return {
        "id": line.pk,
        "subjectKind": line.subject_kind,
        "subjectId": line.subject_id,
        "subjectName": line.subject_name,
        "holding": line.holding,
        "group": line.group_name or None,
        "scopes": line.scopes,
        "restrictions": line.restrictions,
        "temporaryUntil": iso(line.valid_until),
        "breakGlass": line.break_glass,
        "lastTokenIssued": iso(line.last_token_at),
        "reviewer": line.reviewer_name or None,
        "decision": line.decision or None,
        "decidedBy": line.decided_by_name or None,
        "decidedAt": iso(line.decided_at),
        "outcome": line.outcome or None,
    }


def report_row(line: AccessReviewLine, iso) -> list:
    document = line_document(line, iso)
    return [
        document["subjectKind"],
        document["subjectName"],
        document["holding"],
        document["group"] or "",
        " ".join(document["scopes"]),
        " ".join(document["restrictions"]),
        document["temporaryUntil"] or "",
        "yes" if document["breakGlass"] else "",
        document["lastTokenIssued"] or "",
        document["reviewer"] or "",
        document["decision"] or "",
        document["decidedBy"] or "",
        document["decidedAt"] or "",
        document["outcome"] or "",
    ]


def review_document(review: AccessReview, iso, counts: dict | None = None) -> dict:
    document = {
        "id": review.pk,
        "name": review.name,
        "status": review.status,
        "startedBy": {
            "kind": review.started_by_kind,
            "id": review.started_by_id,
            "name": review.started_by_name,
        },
        "startedAt": iso(review.started_at),
        "closedAt": iso(review.closed_at),
    }
    if counts is not None:
        document["lines"] = counts
    return document
