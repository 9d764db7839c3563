"""Pages of a customer list: by page number, or by cursor for clients that walk everything.

- The first page is one query. A later page reads its ids alone first (an index-only scan of
  the index that matches the order, the scope filter included; a subquery of the same
  statement) and then those rows by primary key: the offset is paid on the narrow index, not on
  whole rows, nor on the default address each row of a page looks up (which PostgreSQL would
  look up for every skipped row too).
- The cursor (``cursor=…``, handed out in a ``Link: <…>; rel="next"`` header on every full
  page in the default order) continues after the last customer of the page by primary key: a
  first page again (``id > last`` on the tenant's ``(tenant_id, id)`` index, which the planner
  chooses now that it estimates the row policies' tenant range), so every page costs what the
  first one does. It is opaque and authenticated (core.cursors), valid only in the tenant it
  was handed out in, and only says where to continue: what may be seen is decided by the scope
  filter of the request that uses it, exactly as for any other page.
"""

from __future__ import annotations

from django.db.models import QuerySet

from core.cursors import CURSOR_SALT, NOT_OURS, make_cursor, read_cursor

__all__ = ["CURSOR_SALT", "NOT_OURS", "make_cursor", "page_of", "read_cursor"]

# Below this offset the rows are read directly; from it on, ids first.
DEFERRED_JOIN_OFFSET = 1


def page_of(ordered: QuerySet, offset: int, size: int) -> QuerySet:
    """``ordered[offset:offset + size]`` as a queryset to read the page's rows from: the slice
    itself for the first page (and a cursor's), or, deeper, the rows of the ids read first
    (same order)."""
    if offset < DEFERRED_JOIN_OFFSET:
        return ordered[offset : offset + size]
    return ordered.rows_by_ids_first(offset, offset + size)
