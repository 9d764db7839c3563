"""The back office for customers: the same querysets and services as the API.

Importing the package registers every admin (``base`` holds the scoped base class).
"""

from customers.admin import access, accounts, audit, customers, jobs, tenants, views

__all__ = ["access", "accounts", "audit", "customers", "jobs", "tenants", "views"]
