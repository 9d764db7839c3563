"""Data-subject exports: the task that builds one.

``privacy_export_request`` (customers.services.privacy) records the request and enqueues
:func:`build_privacy_export`. The worker builds the document as the requester is *now* (a
requester who lost access or the customer since gets a failed export, never the data), under a
row-security context of the requester's privacy scope. The requester downloads it once, within
``PRIVACY_EXPORT_HOURS``; the document is removed then (customers.services.privacy).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from accounts import rowsecurity
from accounts.holdings import principal_now
from accounts.principal import Principal
from core.datetimes import iso_formatter
from customers.api.documents import customer_documents
from customers.models import (
    Account,
    Address,
    Customer,
    CustomerView,
    PrivacyExport,
    RestrictionChange,
)


def enqueue(export_id: int) -> None:
    transaction.on_commit(lambda: build_privacy_export.enqueue(export_id))


@task()
def build_privacy_export(export_id: int) -> str:
    reason = f"data-subject export {export_id} (claiming and recording it)"
    with rowsecurity.session_context(rowsecurity.ALL_TENANTS, reason=reason):
        return privacy_export_build(export_id)


EXPORT_FORMAT = "customer-data-export/1"


def privacy_export_build(export_id: int) -> str:
    """Build a queued export as its requester is now (the task worker; every tenant bound for
    the export's own row, the requester's privacy scope for the customer's data)."""
    export = (
        PrivacyExport.objects.prefetch_related("tenant")  # (no join: see customers.admin.jobs)
        .filter(pk=export_id, status=PrivacyExport.Status.QUEUED)
        .first()
    )
    if export is None:
        return "not queued"
    actor = principal_now(export.actor_kind, export.actor_id, export.tenant)
    document = None
    if actor is not None:
        with rowsecurity.session_context(rowsecurity.RowContext.for_privacy(actor), reason=None):
            document = export_document(actor, export.customer_number)
    now = timezone.now()
    if document is None:
        export.status = PrivacyExport.Status.FAILED
        export.message = (
            "The customer is gone, or the requester may no longer export it: nothing was exported."
        )
    else:
        export.status = PrivacyExport.Status.READY
        export.document = document
        export.ready_at = now
        export.expires_at = now + timedelta(hours=settings.PRIVACY_EXPORT_HOURS)
    export.save(update_fields=["status", "message", "document", "ready_at", "expires_at"])
    return export.status


def export_document(actor: Principal, customer_number: str) -> dict[str, Any] | None:
    """Everything held about the customer, as ``actor`` may export it (None: it may not)."""
    customers = Customer.objects.privacy_managed_by(actor).filter(customer_number=customer_number)
    customer = customers.first()
    if customer is None:
        return None
    _, (profile,) = customer_documents(
        customers,
        frozenset({"addresses", "accounts", "mixin:*"}),
        addresses=Address.objects.filter(customer=customer),
        accounts=Account.objects.filter(customer=customer),
    )
    iso = iso_formatter()
    history = RestrictionChange.objects.filter(customer=customer).order_by("changed_at", "pk")
    reads = CustomerView.objects.filter(
        tenant_id=customer.tenant_id, customer_number=customer.customer_number
    ).order_by("pk")
    return {
        "format": EXPORT_FORMAT,
        "exportedAt": iso(timezone.now()),
        "tenant": actor.tenant_code,
        "customerNumber": customer.customer_number,
        "customer": profile,
        "legalHold": customer.legal_hold or None,
        "restrictionHistory": [
            {
                "oldValue": change.old_value,
                "newValue": change.new_value,
                "changedBy": _actor(change),
                "channel": change.channel,
                "changedAt": iso(change.changed_at),
            }
            for change in history.iterator(chunk_size=2000)
        ],
        "views": [
            {
                "viewedBy": _actor(view),
                "channel": view.channel,
                "how": view.how,
                "purpose": view.purpose,
                "viewedAt": iso(view.viewed_at),
            }
            for view in reads.iterator(chunk_size=2000)
        ],
    }


def _actor(record) -> dict[str, str]:
    return {"kind": record.actor_kind, "id": record.actor_id, "name": record.actor_name}
