"""Access reviews as documents: the audit API's JSON, and the report staff download from a
review's page (CSV rows and JSON), never with a secret or a hash."""

from __future__ import annotations

from accounts.models import AccessReview, AccessReviewLine

REPORT_FIELDS = [
    "identity_kind",
    "identity",
    "holding",
    "group",
    "scopes",
    "restrictions",
    "temporary_from",
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
        "temporaryFrom": iso(line.valid_from),
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
        document["temporaryFrom"] or "",
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
