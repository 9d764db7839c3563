"""``field__ilike``: case-insensitive *contains* written as ``ILIKE`` on PostgreSQL, so the
``pg_trgm`` GIN indexes serve it (Django's ``icontains`` wraps the column in ``UPPER()``, which
those indexes cannot). SQLite's ``LIKE`` is already case-insensitive for ASCII."""

from django.db.models import CharField, Lookup


@CharField.register_lookup
class ContainsIgnoringCase(Lookup):
    lookup_name = "ilike"

    def get_db_prep_lookup(self, value, connection):
        return "%s", [f"%{connection.ops.prep_for_like_query(value)}%"]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        operator = "ILIKE" if connection.vendor == "postgresql" else "LIKE"
        return f"{lhs} {operator} {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]
