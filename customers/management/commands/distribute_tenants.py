"""Distribute the customer data of a Citus database by tenant: every tenant's customers,
addresses, accounts, history, jobs and privacy records on one shard, co-located; the tenants,
their sites copied to every node (reference tables).

Run once after ``migrate`` on a Citus coordinator (and again after later migrations: tables
already distributed are left as they are). Refuses, with exit status 2 and a message, a
database that is not Citus.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connections, transaction

from core.commands import bad_input
from core.roles import as_database_owner

# The tables distributed by tenant, the first the one the others are co-located with. Every key
# of theirs carries ``tenant_id`` (migrations 0030, 0032), and it refers to the tenant.
DISTRIBUTED = (
    "customers_customer",
    "customers_address",
    "customers_account",
    "customers_restrictionchange",
    "customers_deletedcustomernumber",
    "customers_job",
    "customers_jobrestriction",
    "customers_customererasure",
    "customers_privacyexport",
    "customers_massreadalert",
)
# Copied whole to every node: a shard joins them where it is, and the distributed tables refer
# to the tenant by foreign key. Citus keeps every table that refers to them on the coordinator as
# a local table it knows: the identities (and what refers to those, Django's own tables among
# them) and the restrictions, whose tree check (a trigger that reads and locks other rows) must
# run in one place, not on every node's copy. The rest (the read-access log, the task queue,
# sessions) stays a plain table there.
REFERENCE = ("tenancy_tenant", "tenancy_site")
# What every session of the database needs: the row-security context (``SET LOCAL``) reaches
# the workers of a transaction; the customer table's update check (a trigger that reads only
# its row and the context) runs on the shards; a statement over many shards (a tenant's are
# on one) goes over one connection per node, as a transaction that also writes a table that
# refers to the reference tables must (an employee's delete unlinks their jobs on every shard,
# then deletes the employee; a grant on every table).
DATABASE_SETTINGS = {
    "citus.propagate_set_commands": "local",
    "citus.enable_unsafe_triggers": "on",
    "citus.multi_shard_modify_mode": "sequential",
}
# Functions the shards call (the policies' settings, the update checks of triggers): made on
# every worker. (Those of the policies Citus finds by itself; a trigger's calls it does not.)
FUNCTIONS = (
    "customers_rls_low()",
    "customers_rls_high()",
    "customers_rls_all(text)",
    "customers_rls_values(text)",
    "customers_rls_covers(text, text)",
    "customers_rls_check_update()",
    "customers_history_append_only()",
)
NOT_CITUS = (
    "This database is not a Citus coordinator (the citus extension is not installed in it); "
    "distribute_tenants changes nothing. See docs/scaling.md."
)


class Command(BaseCommand):
    help = (
        "On a Citus coordinator: distribute the customer tables by tenant (co-located), so that "
        "each tenant's data lives on one shard. Idempotent; refuses a database that is not "
        "Citus."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, **options):
        alias = options["database"]
        if alias not in connections.settings:
            configured = ", ".join(sorted(connections.settings))
            raise bad_input(f"No database {alias!r} is configured (configured: {configured}).")
        if connections[alias].vendor != "postgresql" or not _is_citus(alias):
            raise bad_input(NOT_CITUS)
        with as_database_owner(alias):
            for line in distribute(alias):
                self.stdout.write(line)


def _is_citus(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
        return cursor.fetchone() is not None


def distribute(alias: str = "default") -> list[str]:
    """Distribute what is not yet, in one transaction; the lines to report."""
    connection = connections[alias]
    done = []
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        database = connection.settings_dict["NAME"]
        for name, value in DATABASE_SETTINGS.items():
            quoted = connection.ops.quote_name(database)
            cursor.execute(f"ALTER DATABASE {quoted} SET {name} = '{value}'")
            cursor.execute(f"SET LOCAL {name} = '{value}'")
        for function in FUNCTIONS:
            cursor.execute("SELECT create_distributed_function(%s)", [function])
        cursor.execute(
            "SELECT logicalrelid::regclass::text, partmethod::text || repmodel::text "
            "FROM pg_dist_partition"
        )
        known = dict(cursor.fetchall())  # ('h…': distributed by hash; 'nt': a reference table)
        # (Distributed first: Citus cannot distribute a table with an identity column once it
        # refers to a reference table. Its foreign keys out go, the tenant's come back below.)
        for table in DISTRIBUTED:
            if known.get(table, "").startswith("h"):
                done.append(f"{table}: already distributed")
                continue
            for constraint in _keys_out(cursor, table):
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
            if table == DISTRIBUTED[0]:
                cursor.execute("SELECT create_distributed_table(%s, 'tenant_id')", [table])
            else:
                cursor.execute(
                    "SELECT create_distributed_table(%s, 'tenant_id', colocate_with => %s)",
                    [table, DISTRIBUTED[0]],
                )
            done.append(f"{table}: distributed by tenant_id")
        for table in REFERENCE:
            if known.get(table) == "nt":
                done.append(f"{table}: already a reference table")
                continue
            cursor.execute("SELECT create_reference_table(%s)", [table])
            done.append(f"{table}: a reference table")
        for table in DISTRIBUTED:
            if not _refers_to_the_tenant(cursor, table):
                cursor.execute(
                    # (Checked at commit, as Django's keys are: its deletes do not always
                    # order a tenant after its customers.)
                    f"ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_id_fk FOREIGN KEY "
                    "(tenant_id) REFERENCES tenancy_tenant (id) DEFERRABLE INITIALLY DEFERRED"
                )
                done.append(f"{table}: refers to its tenant by foreign key")
    return done


def _keys_out(cursor, table: str) -> list[str]:
    """The foreign keys of ``table`` to tables that are not distributed (the tenant, the
    employee who started a job): a table being distributed cannot keep them."""
    cursor.execute(
        "SELECT quote_ident(conname) FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid = %s::regclass AND NOT confrelid::regclass::text = ANY(%s)",
        [table, list(DISTRIBUTED)],
    )
    return [row[0] for row in cursor.fetchall()]


def _refers_to_the_tenant(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass "
        "AND confrelid = 'tenancy_tenant'::regclass",
        [table],
    )
    return cursor.fetchone() is not None
