"""The one write path for customers.

API views, the admin, the import endpoint, the jobs and the management commands call these
functions; nothing else writes a customer, its addresses, its accounts or its restriction. Each
one is atomic, checks the principal's rights (``checks``) and writes the audit rows itself.

- ``customers``: create, change, delete customers; login accounts.
- ``addresses``: a customer's addresses and their tags.
- ``assignment``: moving a selection to one restriction value, in batches.
- ``restrictions``: removing a value from the tenant's list.
- ``migration``: the password-migration retention window of imported legacy credentials.
"""

from customers.services.addresses import (
    ADDRESS_DEFAULTS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    address_create,
    address_delete,
    address_tags_change,
    address_update,
    address_upsert,
)
from customers.services.assignment import (
    AssignmentResult,
    restriction_assign,
    restriction_assign_check,
    run_in_batches,
)
from customers.services.checks import MERGED_FIELDS, NOT_FOUND_MESSAGE, UNSET
from customers.services.customers import (
    PROFILE_DEFAULTS,
    account_assign,
    customer_create,
    customer_delete,
    customer_delete_check,
    customer_delete_many,
    customer_update,
    customer_upsert,
)
from customers.services.migration import (
    password_migration_configure,
    password_migration_get,
    password_migration_remove,
    password_migrations_expire,
)
from customers.services.restrictions import restriction_remove

__all__ = [
    "ADDRESS_DEFAULTS",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "MERGED_FIELDS",
    "NOT_FOUND_MESSAGE",
    "PROFILE_DEFAULTS",
    "UNSET",
    "AssignmentResult",
    "account_assign",
    "address_create",
    "address_delete",
    "address_tags_change",
    "address_update",
    "address_upsert",
    "customer_create",
    "customer_delete",
    "customer_delete_check",
    "customer_delete_many",
    "customer_update",
    "customer_upsert",
    "password_migration_configure",
    "password_migration_get",
    "password_migration_remove",
    "password_migrations_expire",
    "restriction_assign",
    "restriction_assign_check",
    "restriction_remove",
    "run_in_batches",
]
