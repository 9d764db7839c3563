"""Opaque cursors for lists walked page by page: "continue after this row".

Authenticated encryption (Fernet: AES with an HMAC, keyed from ``SECRET_KEY``): a client can
pass a cursor back but neither read the internal id inside (whose gaps would count the rows it
cannot see) nor make one up or alter it; it is valid only in the tenant, and for the list, it
was handed out for. It only says where to continue: what may be seen is decided by the request
that uses it, exactly as for any other page.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

from core.errors import InvalidInput

CURSOR_SALT = "customers.list-cursor"
NOT_OURS = "The cursor is not one this service handed out."


def _key(secret: str) -> Fernet:
    digest = salted_hmac(CURSOR_SALT, "cursor", secret=secret, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _cipher() -> MultiFernet:
    """Keys derived from SECRET_KEY (and SECRET_KEY_FALLBACKS, so cursors survive a rotation)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_key(secret) for secret in secrets])


def _plain(tenant_id: int, last_pk: int, list_name: str) -> str:
    # (the customer list's cursors carry no name: those handed out before stay valid)
    return f"{tenant_id}:{last_pk}" + (f":{list_name}" if list_name else "")


def make_cursor(tenant_id: int, last_pk: int, list_name: str = "") -> str:
    return _cipher().encrypt(_plain(tenant_id, last_pk, list_name).encode()).decode()


def read_cursor(text: str, tenant_id: int, list_name: str = "") -> int:
    """The primary key to continue after; a 400 for anything not handed out in this tenant for
    this list."""
    try:
        plain = _cipher().decrypt(text.encode("ascii")).decode()
        cursor_tenant, _, rest = plain.partition(":")
        last_pk, _, cursor_list = rest.partition(":")
        if int(cursor_tenant) != tenant_id or cursor_list != list_name:
            raise ValueError("another tenant's or list's cursor")
        return int(last_pk)
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise InvalidInput(NOT_OURS, field="cursor") from exc


def next_link(request, cursor: str, *, drop: tuple[str, ...] = ()) -> str:
    """The ``Link`` header to the next page: this request's URL and query, with ``cursor`` (and
    without the parameters in ``drop``)."""
    query = request.query_params.copy()
    for name in drop:
        query.pop(name, None)
    query["cursor"] = cursor
    return f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="next"'
