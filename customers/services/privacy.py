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

from accounts import rowsecurity
from accounts.principal import Principal
from core.errors import ConflictError, InvalidInput, first_or_not_found
from customers.models import Customer, CustomerErasure, CustomerView, DeletedCustomerNumber
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


@transaction.atomic
def customer_erase(
    *, actor: Principal, channel: str, customer_number: str, reason: str
) -> CustomerErasure:
    reason = checked_reason(reason)
    coverage = actor.grants.privacy_manageable()
    with rowsecurity.row_context(rowsecurity.RowContext.for_privacy(actor)):
        done = CustomerErasure.objects.filter(
            tenant_id=actor.tenant_id, customer_number=customer_number
        ).first()
        if done is not None and coverage.covers(done.restriction):
            raise ConflictError(
                f"{customer_number} was erased already, on {done.erased_at:%Y-%m-%d} by "
                f"{done.actor_name or done.actor_id}: nothing is left to erase."
            )
        customer = _locked(actor, customer_number)
        if customer.legal_hold:
            raise ConflictError(
                f"{customer_number} is under a legal hold ({customer.legal_hold}): nothing was "
                "erased. Lift the hold first."
            )
        erasure = CustomerErasure.objects.create(
            tenant_id=customer.tenant_id,
            customer_number=customer.customer_number,
            restriction=customer.restriction,
            channel=channel,
            reason=reason,
            **actor.audit_fields(),
        )
        DeletedCustomerNumber.objects.bulk_create(
            [DeletedCustomerNumber(tenant_id=customer.tenant_id, customer_number=customer_number)],
            ignore_conflicts=True,
        )
        _forget_in_the_admin_log(customer)
        _blank_read_purposes(customer)
        customer.delete()
    return erasure


def _forget_in_the_admin_log(customer: Customer) -> None:
    """Django's admin log names the object as it was (``Customer.__str__``: number and name)
    and describes changes of its inlines (addresses)."""
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer.pk)
    ).update(object_repr=ERASED_REPR, change_message="")


def _blank_read_purposes(customer: Customer) -> None:
    reads = CustomerView.objects.filter(
        tenant_id=customer.tenant_id, customer_number=customer.customer_number
    ).exclude(purpose="")
    if connection.vendor == "postgresql":  # (the one change its policies allow, and only now)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('customers.erasing', %s, true)", [customer.customer_number]
            )
    reads.update(purpose="")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('customers.erasing', '', true)")
