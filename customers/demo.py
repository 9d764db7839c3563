"""Realistic demo customers, fast: Faker fills small pools once, rows are combined from them and
written with ``bulk_create`` in large batches (100 000 customers seed in seconds on SQLite).

Demo seeding creates customers directly instead of one service call per row; it writes the same
audit rows the create service writes for an initial restriction, under the actor
``seed_demo``.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Iterator

from django.db import transaction
from faker import Faker

from customers.models import (
    Account,
    Address,
    Channel,
    Customer,
    RestrictionChange,
    generate_customer_number,
)
from tenancy.models import Tenant

BATCH = 5000
SITE_COUNTRY = {"DE": "DE", "FR": "FR", "US": "US", "main": "DE"}
LOCALE = {"DE": "de_DE", "FR": "fr_FR", "US": "en_US"}
CURRENCY = {"DE": "EUR", "FR": "EUR", "US": "USD"}


class _Pools:
    def __init__(self, seed: int):
        self.by_country = {}
        for country, locale in {"DE": "de_DE", "FR": "fr_FR", "US": "en_US"}.items():
            fake = Faker(locale)
            fake.seed_instance(seed)
            self.by_country[country] = {
                "first": [fake.first_name() for _ in range(200)],
                "last": [fake.last_name() for _ in range(300)],
                "company": [fake.company() for _ in range(80)],
                "street": [fake.street_name() for _ in range(150)],
                "city": [fake.city() for _ in range(120)],
                "zip": [fake.postcode() for _ in range(120)],
                "phone": [fake.phone_number() for _ in range(200)],
            }


def _seeded(tenant: Tenant):
    return Customer.objects.filter(tenant=tenant, seeded_by_demo=True)


def demo_reset(tenant: Tenant) -> int:
    """Remove the customers seeding made (with their addresses, accounts and restriction
    history), so that seeding starts over; customers a user created, jobs and deleted numbers
    stay. Returns how many customers were removed. Demo data only: nothing else calls it."""
    customers = _seeded(tenant)
    with transaction.atomic():
        removed = customers.count()
        RestrictionChange.objects.filter(tenant=tenant, customer__in=customers).delete()
        customers.delete()
    return removed


def demo_customer_count(tenant: Tenant) -> int:
    """How many customers seeding made in the demo tenant already (it tops them up)."""
    return _seeded(tenant).count()


def seed_customers(
    tenant: Tenant,
    count: int,
    *,
    seed: int = 2026,
    on_batch: Callable[[int], object] | None = None,
) -> int:
    """Add ``count`` customers spread over the tenant's restrictions and null, committing each
    batch (an interrupted run keeps whole batches; running again tops up the rest)."""
    rng = random.Random(seed + Customer.objects.filter(tenant=tenant).count())  # noqa: S311
    pools = _Pools(seed)
    restrictions = [*tenant.restrictions.values_list("code", flat=True), None]
    sites = set(tenant.sites.values_list("code", flat=True))
    created = 0
    taken = set()
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        customers = list(_customers(tenant, size, rng, pools, restrictions, sites, taken))
        with transaction.atomic():
            Customer.objects.bulk_create(customers, batch_size=1000)
            _related(tenant, customers, rng, pools)
        created += size
        if on_batch is not None:
            on_batch(size)
    return created


def _customers(tenant, size, rng, pools, restrictions, sites, taken) -> Iterator[Customer]:
    for _ in range(size):
        restriction = rng.choice(restrictions)
        country = restriction if restriction in pools.by_country else "DE"
        pool = pools.by_country[country]
        first, last = rng.choice(pool["first"]), rng.choice(pool["last"])
        number = generate_customer_number()
        while number in taken:
            number = generate_customer_number()
        taken.add(number)
        b2b = rng.random() < 0.15
        yield Customer(
            tenant=tenant,
            customer_number=number,
            first_name=first,
            last_name=last,
            contact_email=_email(first, last, number),
            contact_phone=rng.choice(pool["phone"]),
            company=rng.choice(pool["company"]) if b2b else None,
            b2b_company_registration_id=f"HRB{rng.randint(10000, 99999)}" if b2b else None,
            preferred_site=restriction if restriction in sites else "main",
            preferred_language=LOCALE.get(country, "en_US"),
            preferred_currency=CURRENCY.get(country, "USD"),
            active=rng.random() > 0.05,
            restriction=restriction,
            seeded_by_demo=True,
        )


def _email(first: str, last: str, number: str) -> str:
    local = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
    local = re.sub(r"[^a-z0-9.]", "", local.lower())
    return f"{local}.{number.lower()}@example.com"


def _related(tenant, customers, rng, pools) -> None:
    addresses, accounts, audit = [], [], []
    for customer in customers:
        country = customer.restriction if customer.restriction in pools.by_country else "DE"
        pool = pools.by_country[country]
        if rng.random() < 0.4:
            addresses.append(
                Address(
                    tenant=tenant,
                    customer=customer,
                    is_default=True,
                    contact_name=f"{customer.first_name} {customer.last_name}",
                    street=rng.choice(pool["street"]),
                    street_number=str(rng.randint(1, 199)),
                    zip_code=rng.choice(pool["zip"]),
                    city=rng.choice(pool["city"]),
                    country=country,
                    tags=["BILLING", "SHIPPING"],
                )
            )
        if rng.random() < 0.3:
            accounts.append(Account(tenant=tenant, customer=customer, email=customer.contact_email))
        if customer.restriction is not None:
            audit.append(
                RestrictionChange(
                    tenant=tenant,
                    customer=customer,
                    customer_number=customer.customer_number,
                    old_value=None,
                    new_value=customer.restriction,
                    actor_kind="operator",
                    actor_id="seed_demo",
                    actor_name="seed_demo",
                    channel=Channel.COMMAND,
                )
            )
    Address.objects.bulk_create(addresses, batch_size=1000)
    Account.objects.bulk_create(accounts, batch_size=1000)
    RestrictionChange.objects.bulk_create(audit, batch_size=1000)
