"""Pages of a customer list: by page number, or by cursor for clients that walk everything.

- A page near the start is one query. A deeper page reads its ids alone first (an index-only
  scan of the index that matches the order, the scope filter included; a subquery of the same
  statement) and then those rows by primary key: the offset is paid on the narrow index, not
  on whole rows.
- The cursor (``cursor=…``, handed out in a ``Link: <…>; rel="next"`` header on every full
  page in the default order) continues after the last customer of the page by primary key, ids
  first like a deep page, so every page costs what the first one does. It is opaque and
  authenticated (Fernet: AES with an HMAC, keyed from ``SECRET_KEY``): a client can pass it
  back but neither read the internal id inside (whose gaps would count the customers it cannot
  see) nor make one up or alter it, and it is valid only in the tenant it was handed out in. It
  only says where to continue; what may be seen is decided by the scope filter of the request
  that uses it, exactly as for any other page.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db.models import QuerySet
from django.utils.crypto import salted_hmac

from core.errors import InvalidInput

CURSOR_SALT = "customers.list-cursor"
# Below this offset the rows are read directly; above it, ids first.
DEFERRED_JOIN_OFFSET = 1000
NOT_OURS = "The cursor is not one this service handed out."


def _key(secret: str) -> Fernet:
    digest = salted_hmac(CURSOR_SALT, "cursor", secret=secret, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _cipher() -> MultiFernet:
    """Keys derived from SECRET_KEY (and SECRET_KEY_FALLBACKS, so cursors survive a rotation)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_key(secret) for secret in secrets])


def make_cursor(tenant_id: int, last_pk: int) -> str:
    return _cipher().encrypt(f"{tenant_id}:{last_pk}".encode()).decode()


def read_cursor(text: str, tenant_id: int) -> int:
    """The primary key to continue after; a 400 for anything not handed out in this tenant."""
    try:
        plain = _cipher().decrypt(text.encode("ascii"))
        cursor_tenant, _, last_pk = plain.decode().partition(":")
        if int(cursor_tenant) != tenant_id:
            raise ValueError("another tenant's cursor")
        return int(last_pk)
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise InvalidInput(NOT_OURS, field="cursor") from exc


def page_of(ordered: QuerySet, offset: int, size: int, *, ids_first: bool = False) -> QuerySet:
    """``ordered[offset:offset + size]`` as a queryset to read the page's rows from: the slice
    itself near the start, or, deeper (or with ``ids_first``: a cursor page, which could
    otherwise be planned as a walk of the primary key through other tenants' rows), the rows
    of the ids read first (same order)."""
    if offset < DEFERRED_JOIN_OFFSET and not ids_first:
        return ordered[offset : offset + size]
    # One statement: the ids as a subquery (a LIMIT keeps the planner from merging it away).
    return ordered.filter(pk__in=ordered.values("pk")[offset : offset + size])
