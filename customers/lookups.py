"""Text matches on customers that PostgreSQL's ``pg_trgm`` GIN indexes can serve.

- ``field__ilike``: case-insensitive *contains*, written as ``ILIKE`` (Django's ``icontains``
  wraps the column in ``UPPER()``, which the indexes cannot use). SQLite's ``LIKE`` is already
  case-insensitive for ASCII.
- ``field__indexed_regex`` / ``field__indexed_iregex``: Django's ``regex`` / ``iregex``.

On PostgreSQL, for the customer columns with a trigram index, a pattern the index serves well
(a rare term; ``customers_trigram_pays`` asks the planner) is asked of ``customers_matching_ids``
(migration ``0007_row_level_security``): under row-level security a regular expression or
``ILIKE`` is not leakproof, so the planner may not use an index for it on the table itself; the
function runs it with the same row-security context and answers ids, which the query then reads
under the policies. A common term stays in the query, where walking the tenant's rows in order
finds a page soonest, with or without the policies.

On a distributed database (``DATABASE_DISTRIBUTED``, Citus) every match stays in the query: the
function's owner bypasses row security on the coordinator only (the workers would have to let
a role without login in) and Citus refuses its reads in a transaction that has written. The
query is then read under the policies on the tenant's shard.
"""

from django.conf import settings
from django.db.models import CharField, Lookup
from django.db.models.lookups import IRegex, Regex

TRIGRAM_COLUMNS = frozenset({"first_name", "last_name", "contact_email", "company"})
CUSTOMER_TABLE = "customers_customer"


def _through_trigram_index(lookup: Lookup, compiler, connection, operator: str, rhs_params):
    """``<alias>.id = ANY (ARRAY(SELECT customers_matching_ids(…)))``, or None where the
    lookup is not on such a column (or not on PostgreSQL)."""
    target = getattr(lookup.lhs, "target", None)
    if (
        connection.vendor != "postgresql"
        or settings.DATABASE_DISTRIBUTED
        or target is None
        or target.model._meta.db_table != CUSTOMER_TABLE
        or target.column not in TRIGRAM_COLUMNS
    ):
        return None
    if not _trigram_pays(connection, target.column, operator, rhs_params[0]):
        return None
    alias = compiler.quote_name_unless_alias(lookup.lhs.alias)
    sql = f'{alias}."id" = ANY (ARRAY(SELECT customers_matching_ids(%s, %s, %s)))'
    return sql, [target.column, operator, *rhs_params]


def _trigram_pays(connection, column: str, operator: str, pattern: str) -> bool:
    """Whether PostgreSQL's planner, unhindered by the policies, would search this pattern
    through the trigram index (a rare term), rather than walk the tenant's rows in order (a
    common one, where the first page is found sooner that way, with the policies too)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT customers_trigram_pays(%s, %s, %s)", [column, operator, pattern])
        return bool(cursor.fetchone()[0])


@CharField.register_lookup
class ContainsIgnoringCase(Lookup):
    lookup_name = "ilike"

    def get_db_prep_lookup(self, value, connection):
        return "%s", [f"%{connection.ops.prep_for_like_query(value)}%"]

    def as_sql(self, compiler, connection):
        rhs, rhs_params = self.process_rhs(compiler, connection)
        indexed = _through_trigram_index(self, compiler, connection, "~~*", rhs_params)
        if indexed is not None:
            return indexed
        lhs, lhs_params = self.process_lhs(compiler, connection)
        operator = "ILIKE" if connection.vendor == "postgresql" else "LIKE"
        return f"{lhs} {operator} {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


class _IndexedMatch(Lookup):
    """A Django lookup (``builtin``) asked of the trigram index where there is one."""

    builtin: type[Lookup]
    trigram_operator: str
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        _, rhs_params = self.process_rhs(compiler, connection)
        indexed = _through_trigram_index(
            self, compiler, connection, self.trigram_operator, rhs_params
        )
        if indexed is not None:
            return indexed
        return compiler.compile(self.builtin(self.lhs, self.rhs))


@CharField.register_lookup
class IndexedRegex(_IndexedMatch):
    lookup_name = "indexed_regex"
    builtin = Regex
    trigram_operator = "~"


@CharField.register_lookup
class IndexedIRegex(_IndexedMatch):
    lookup_name = "indexed_iregex"
    builtin = IRegex
    trigram_operator = "~*"
