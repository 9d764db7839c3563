"""Data-subject requests over one customer: a legal hold, and erasure.

Both need ``customer.privacy_manage`` covering the customer's restriction (a customer it does not
cover answers exactly like a missing one). They run under a row-security context of their own
(``RowContext.for_privacy``): a data-protection officer need not manage customers to erase one.

Erasure removes the customer's personal data wherever this service keeps it: the customer with
its addresses and login accounts (deleted), what the back office's own change log says of it
(its name in Django's admin log), and the purposes in the read-access log of its reads (the
caller's free text, which may name the person). What stays: its number, taken for good (a
:class:`CustomerErasure`), the restriction history (numbers and values, no personal data) and
the read-access log's lines without their purposes — and the record of the erasure itself: when,
by whom, why.
"""

from __future__ import annotations

import unicodedata

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import rowsecurity
from accounts.principal import Principal
from core.errors import (
    ConflictError,
    DoesNotExist,
    Gone,
    InvalidInput,
    NotPermitted,
    first_or_not_found,
)
from customers import exports, read_log, read_log_journal
from customers.models import (
    Customer,
    CustomerErasure,
    CustomerView,
    DeletedCustomerNumber,
    MassReadAlert,
    PrivacyExport,
    ReadHow,
)
from customers.services.checks import NOT_FOUND_MESSAGE

REASON_MAX_LENGTH = 500
ERASED_REPR = "(erased customer)"


def checked_reason(text, *, field: str = "reason") -> str:
    """Why: required, at most 500 characters, no control characters."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Say why (reason): it is kept with the record.", field=field)
    reason = text.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInput(
            f"The reason is at most {REASON_MAX_LENGTH} characters ({len(reason):,} given).",
            field=field,
        )
    if any(unicodedata.category(character) == "Cc" for character in reason):
        raise InvalidInput("The reason cannot contain control characters.", field=field)
    return reason


def _locked(actor: Principal, customer_number: str) -> Customer:
    customers = Customer.objects.privacy_managed_by(actor).select_for_update()
    return first_or_not_found(customers.filter(customer_number=customer_number), NOT_FOUND_MESSAGE)


@transaction.atomic
def legal_hold_set(*, actor: Principal, customer_number: str, reason: str | None) -> Customer:
    """Put the customer under a legal hold (``reason``), or lift it (None)."""
    held = "" if reason is None else checked_reason(reason)
    with rowsecurity.row_context(rowsecurity.RowContext.for_privacy(actor)):
        customer = _locked(actor, customer_number)
        Customer.objects.filter(pk=customer.pk).update(legal_hold=held)
        customer.legal_hold = held
    return customer


def _covered_whole(actor: Principal, customers: QuerySet[Customer], nothing_done: str):
    """The selection (in the actor's tenant) as its privacy scope covers it: all of it, or a
    refusal that says how many are outside and that ``nothing_done``."""
    selection = customers.filter(tenant_id=actor.tenant_id)
    covered = selection.privacy_managed_by(actor)
    outside = selection.count() - covered.count()
    if outside:
        raise NotPermitted(
            f"{outside:,} selected customer{'s are' if outside != 1 else ' is'} outside your "
            f"privacy scope (customer.privacy_manage); {nothing_done}."
        )
    return covered


@transaction.atomic
def legal_holds_set(*, actor: Principal, customers: QuerySet[Customer], reason: str | None) -> int:
    """Put a selection under a legal hold (``reason``) or lift it (None): all of it or nothing.
    Returns how many customers changed."""
    held = "" if reason is None else checked_reason(reason)
    with rowsecurity.row_context(rowsecurity.RowContext.for_privacy(actor)):
        covered = _covered_whole(actor, customers, "no hold was changed")
        return covered.exclude(legal_hold=held).update(legal_hold=held)


@transaction.atomic
def customer_erase(
    *, actor: Principal, channel: str, customer_number: str, reason: str
) -> CustomerErasure:
    """Erase one customer (404 like a missing one where the scope does not cover it; 409 when
    held or erased already)."""
    reason = checked_reason(reason)
    with rowsecurity.row_context(rowsecurity.RowContext.for_privacy(actor)):
        customers = Customer.objects.privacy_managed_by(actor).select_for_update()
        customer = customers.filter(customer_number=customer_number).first()
        if customer is None:
            # (Asked after the lock: an erasure that held it a moment ago has committed by now.)
            _refuse_erased_already(actor, customer_number)
            raise DoesNotExist(NOT_FOUND_MESSAGE)
        _erase(actor, channel, Customer.objects.filter(pk=customer.pk), reason)
        return CustomerErasure.objects.get(
            tenant_id=customer.tenant_id, customer_number=customer_number
        )


def _refuse_erased_already(actor: Principal, customer_number: str) -> None:
    """409 when the customer was erased, as far as the actor's privacy scope covers what it was
    (otherwise the caller answers 404, like a missing customer)."""
    done = CustomerErasure.objects.filter(
        tenant_id=actor.tenant_id, customer_number=customer_number
    ).first()
    if done is not None and actor.grants.privacy_manageable().covers(done.restriction):
        raise ConflictError(
            f"{customer_number} was erased already, on {done.erased_at:%Y-%m-%d} by "
            f"{done.actor_name or done.actor_id}: nothing is left to erase."
        )


def customers_erase_check(*, actor: Principal, customers: QuerySet[Customer]) -> QuerySet:
    """The part of a selection the actor may erase, refused whole when any of it is outside its
    privacy scope or under a legal hold."""
    covered = _covered_whole(actor, customers, "nothing was erased")
    held = covered.exclude(legal_hold="").count()
    if held:
        raise ConflictError(
            f"{held:,} selected customer{'s are' if held != 1 else ' is'} under a legal hold; "
            "nothing was erased. Lift the holds first."
        )
    return covered


@transaction.atomic
def customers_erase(
    *, actor: Principal, channel: str, customers: QuerySet[Customer], reason: str
) -> int:
    """Erase a selection of one tenant: all of it, or nothing. Returns how many were erased."""
    reason = checked_reason(reason)
    with rowsecurity.row_context(rowsecurity.RowContext.for_privacy(actor)):
        selection = customers_erase_check(actor=actor, customers=customers)
        return _erase(actor, channel, selection.select_for_update(), reason)


def _erase(actor: Principal, channel: str, customers: QuerySet[Customer], reason: str) -> int:
    """Set-based: a statement per table, whatever the number of customers."""
    rows = list(
        customers.order_by("pk").values_list(
            "pk", "tenant_id", "customer_number", "restriction", "legal_hold"
        )
    )
    if any(held for *_, held in rows):
        number, hold = next((row[2], row[4]) for row in rows if row[4])
        raise ConflictError(
            f"{number} is under a legal hold ({hold}): nothing was erased. Lift the hold first."
        )
    if not rows:
        return 0
    tenant_id = rows[0][1]
    numbers = [number for _, _, number, _, _ in rows]
    CustomerErasure.objects.bulk_create(
        CustomerErasure(
            tenant_id=tenant_id,
            customer_number=number,
            restriction=restriction,
            channel=channel,
            reason=reason,
            **actor.audit_fields(),
        )
        for _, _, number, restriction, _ in rows
    )
    DeletedCustomerNumber.objects.bulk_create(
        (DeletedCustomerNumber(tenant_id=tenant_id, customer_number=n) for n in numbers),
        ignore_conflicts=True,
    )
    # Django's admin log names the object as it was (number and name) and describes changes of
    # its inlines (addresses).
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer),
        object_id__in=[str(pk) for pk, *_ in rows],
    ).update(object_repr=ERASED_REPR, change_message="")
    _blank_read_purposes(tenant_id, numbers)
    PrivacyExport.objects.filter(
        tenant_id=tenant_id, customer_number__in=numbers, document__isnull=False
    ).update(document=None, status=PrivacyExport.Status.EXPIRED, message="Erased since.")
    PrivacyExport.objects.filter(tenant_id=tenant_id, customer_number__in=numbers).exclude(
        purpose=""
    ).update(purpose="")
    Customer.objects.filter(pk__in=[pk for pk, *_ in rows]).delete()
    return len(rows)


def _blank_read_purposes(tenant_id: int, numbers: list[str]) -> None:
    # (lines waiting in a journal are shipped without their purpose once the erasure is in)
    read_log_journal.hold_shipping()
    reads = CustomerView.objects.filter(tenant_id=tenant_id, customer_number__in=numbers)
    reads = reads.exclude(purpose="")
    if connection.vendor != "postgresql":
        reads.update(purpose="")
        return
    # The one change the log's policies allow, and only for these customers, only now.
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL customers.erasing = {rowsecurity.literal(','.join(numbers))}")
    reads.update(purpose="")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL customers.erasing = ''")


# -- exports ---------------------------------------------------------------------------------

EXPORT_NOT_FOUND = "Export not found."


@transaction.atomic
def privacy_export_request(
    *, actor: Principal, channel: str, customer_number: str, purpose: str = ""
):
    """Ask for a customer's data: recorded now, built by a task worker (customers.exports).
    ``purpose`` (checked by the caller: read_log.purpose_of) goes into the read-access log's
    line when the document is downloaded."""
    with rowsecurity.row_context(rowsecurity.RowContext.for_privacy(actor)):
        customer = _locked(actor, customer_number)
        export = PrivacyExport.objects.create(
            tenant_id=customer.tenant_id,
            customer_number=customer.customer_number,
            channel=channel,
            purpose=purpose,
            **actor.audit_fields(),
        )
    exports.enqueue(export.pk)
    return export


def _own_export(actor: Principal, export_id: int):
    """The requester's own export (anyone else's, like a missing one: not found)."""
    own = PrivacyExport.objects.requested_by(actor)
    return first_or_not_found(own.select_for_update().filter(pk=export_id), EXPORT_NOT_FOUND)


@transaction.atomic
def privacy_export_status(*, actor: Principal, export_id: int) -> PrivacyExport:
    return _expired(_own_export(actor, export_id))


def privacy_export_download(*, actor: Principal, export_id: int, channel: str) -> dict:
    """The document, once: it is removed as it is handed out, and the read-access log records
    the customer as read (how: export; with the purpose given when it was asked for), in the
    same transaction. (A refusal comes after the transaction, so that an expiry found on the
    way is kept.)"""
    with transaction.atomic():
        export = _expired(_own_export(actor, export_id))
        if export.status == PrivacyExport.Status.READY:
            PrivacyExport.objects.filter(pk=export.pk).update(
                document=None, status=PrivacyExport.Status.DOWNLOADED, downloaded_at=timezone.now()
            )
            read_log.record(
                actor,
                channel=channel,
                how=ReadHow.EXPORT,
                served=[(export.tenant_id, export.customer_number)],
                purpose=export.purpose,
            )
            return export.document
    when = {
        PrivacyExport.Status.DOWNLOADED: export.downloaded_at,
        PrivacyExport.Status.EXPIRED: export.expires_at,
    }.get(export.status)
    said = f" on {when:%Y-%m-%d %H:%M} UTC" if when else ""
    raise Gone(f"This export is {export.get_status_display()}{said}: nothing to download.")


def _expired(export: PrivacyExport) -> PrivacyExport:
    if export.status == PrivacyExport.Status.READY and export.expires_at <= timezone.now():
        PrivacyExport.objects.filter(pk=export.pk).update(
            document=None, status=PrivacyExport.Status.EXPIRED
        )
        export.document, export.status = None, PrivacyExport.Status.EXPIRED
    return export


# -- mass-read alerts --------------------------------------------------------------------------


@transaction.atomic
def mass_read_alerts_acknowledge(*, actor: Principal, alerts: QuerySet) -> int:
    """A tenant administrator has looked into these alerts; returns how many were still open.
    Nobody acknowledges an alert about their own reading (another administrator does)."""
    return (
        MassReadAlert.objects.administered_by(actor)
        .filter(pk__in=alerts.values("pk"), acknowledged_at__isnull=True)
        .exclude(actor_kind=actor.kind, actor_id=actor.id)
        .update(acknowledged_at=timezone.now(), acknowledged_by_name=actor.name)
    )
