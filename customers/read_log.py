"""The read-access log: who was served which customers, when, through which door and how.

Every edge that serves customers to a caller (the API's reads, the back office's customer page
and list) calls :func:`record` with what it is about to answer. The rows go in with one
``INSERT`` in the transaction that read the customers (on the primary: a request served from a
replica writes them there in a transaction of their own), before the response exists: a read
that was answered is in the log, whatever happens to the process afterwards.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS

from accounts import rowsecurity
from accounts.principal import Principal
from core import replicas
from core.errors import InvalidInput
from customers.models import CustomerView, ReadHow

PURPOSE_HEADER = "X-Purpose"
PURPOSE_MAX_LENGTH = 200


def purpose_of(text: str | None, *, field: str = PURPOSE_HEADER) -> str:
    """A caller's stated purpose, checked: at most 200 characters, no control characters."""
    purpose = (text or "").strip()
    if len(purpose) > PURPOSE_MAX_LENGTH:
        raise InvalidInput(
            f"The purpose is at most {PURPOSE_MAX_LENGTH} characters ({len(purpose):,} given).",
            field=field,
        )
    if any(unicodedata.category(character) == "Cc" for character in purpose):
        raise InvalidInput("The purpose cannot contain control characters.", field=field)
    return purpose


def record(
    principal: Principal,
    *,
    channel: str,
    how: ReadHow,
    served: Iterable[tuple[int, str]],
    purpose: str = "",
    expanded: Iterable[str] = (),
) -> int:
    """Log the customers in ``served`` (``(tenant_id, customer_number)``, each once however
    often it appears) as read by ``principal``. Returns how many rows were written."""
    actor = principal.audit_fields()
    extra = " ".join(sorted(expanded))
    rows = [
        CustomerView(
            tenant_id=tenant_id,
            customer_number=number,
            channel=channel,
            how=how,
            expanded=extra,
            purpose=purpose,
            **actor,
        )
        for tenant_id, number in dict.fromkeys(served)
    ]
    if not rows:
        return 0
    if replicas.current_alias() == DEFAULT_DB_ALIAS:
        CustomerView.objects.bulk_create(rows)
    else:  # (read from a replica: the log lives on the primary)
        with rowsecurity.row_context(
            rowsecurity.RowContext.of(principal), reason="the read-access log", using="default"
        ):
            CustomerView.objects.using(DEFAULT_DB_ALIAS).bulk_create(rows)
    return len(rows)
