"""The generic leak test: every API route, discovered from the URL conf, walked with every
method as DE-only principals against a data set with FR/US/null customers and another tenant.
No identifier of an invisible customer may appear in any response body or header.

Every probe runs in a savepoint that is rolled back, so each meets the same data (no probe
depends on another's deletion), and the write bodies are valid without ``restriction``: in-scope
writes succeed, and their 200/201 bodies are inspected too."""

import json
import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from customers.models import Address, Customer, CustomerErasure, CustomerView, PrivacyExport
from customers.passwords import emporix_hash
from tests.conftest import DE_MANAGER, DE_READER, DE_RESTRICTION_MANAGER

pytestmark = pytest.mark.django_db

PROBE_HASH = emporix_hash("probe-password", "probe-salt")
NUMBERS = ["DE1", "FR1", "US1", "NULL1", "OT-DE1", "NOPE"]
BODIES = {
    "customer-list": [{"firstName": "Probe"}, {"firstName": "Probe", "restriction": "FR"}],
    "customer-import": [
        [
            {
                "firstName": "Probe",
                "restriction": "FR",
                "account": {"email": "leak-probe3@example.com", "passwordHash": PROBE_HASH},
            },
            {
                "id": "FR1",
                "account": {"email": "leak-probe4@example.com", "passwordHash": PROBE_HASH},
            },
            {"account": {"email": "leak-probe2@example.com", "passwordHash": PROBE_HASH}},
        ]
    ],
    "password-migration-retention": [{"retentionEndDate": "2099-01-31"}],
    "customer-search": [{"q": ""}, {"q": "restriction:(FR,US)"}, {"q": "lastName:~Last"}],
    "customer-detail": [
        {"firstName": "Probe"},
        {"firstName": "Probe", "restriction": "FR"},
        {"restriction": None},
    ],
    "customer-account": [{"email": "leak-probe@example.com"}],
    "address-list": [{"contactName": "Probe", "country": "DE"}],
    "address-detail": [{"contactName": "Probe", "country": "DE"}],
    "address-tags": [None],
    "restriction-change-list": [None],
    "customer-restriction-change-list": [None],
    "access-change-list": [None],
    "access-review-list": [None],
    "access-review-line-list": [None],
    "customer-view-list": [None],
    "customer-view-list-of-customer": [None],
    "customer-erasure": [{"reason": "Leak probe"}],
    "customer-legal-hold": [{"reason": "Leak probe"}],
    "customer-privacy-export": [None],
    "erasure-list": [None],
    "privacy-export": [None],
    "privacy-export-document": [None],
}
# A DE manager's writes on DE1 that must succeed (the walk would prove nothing if they failed).
MUST_SUCCEED = {
    ("customer-list", "POST"),
    ("customer-list", "GET"),
    ("customer-search", "POST"),
    ("customer-import", "POST"),
    ("password-migration-retention", "POST"),
    ("password-migration-retention", "DELETE"),
    ("customer-detail", "GET"),
    ("customer-detail", "PUT"),
    ("customer-detail", "PATCH"),
    ("customer-detail", "DELETE"),
    ("customer-account", "POST"),
    ("address-list", "GET"),
    ("address-list", "POST"),
    ("address-detail", "GET"),
    ("address-detail", "PUT"),
    ("address-detail", "PATCH"),
    ("address-detail", "DELETE"),
    ("address-tags", "POST"),
    ("address-tags", "DELETE"),
}
QUERY = "?expand=addresses,accounts,mixin:*&pageSize=1000&tags=A&sort=lastName:desc"


def api_routes():
    """(route, name, view class) for every URL pattern under customer/<tenant>/ and
    iam/<tenant>/."""
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith(("customer/", "iam/")):
                    found.append((route, pattern.name, pattern.callback.view_class))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_has_probe_bodies():
    # A new route must be added to the walk (and given bodies) or this fails.
    assert {name for _, name, _ in api_routes()} == set(BODIES)


def forbidden_strings(world, visible=("DE1",)):
    """What would identify a customer outside ``visible``: number, e-mail, names, addresses."""
    strings = set()
    for key, customer in world.items():
        if key in visible:
            continue
        strings |= {key, customer.contact_email, customer.first_name, customer.last_name}
        for address in Address.objects.filter(customer=customer):
            strings |= {address.address_id, address.contact_name}
    return {s for s in strings if s}


def concrete_urls(route, addresses, export_ids=("1",)):
    for number in NUMBERS:
        for address_id in {addresses.get(number, "none"), addresses["FR1"], addresses["DE1"]}:
            for export_id in export_ids:
                values = {
                    "tenant": "acme",
                    "customerNumber": number,
                    "addressId": address_id,
                    "reviewId": "1",
                    "exportId": export_id,
                }
                # Any converter: <str:tenant>, <identifier:customerNumber>, ...
                yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m, v=values: v[m.group(1)], route)


class _Rollback(Exception):
    pass


def probe(call):
    """Run one request in a savepoint that is rolled back: the next probe meets the same data.
    Also checks that no customer outside DE1 changed meanwhile."""
    outside = list(Customer.objects.exclude(customer_number="DE1").values().order_by("pk"))
    try:
        with transaction.atomic():
            response = call()
            after = list(Customer.objects.exclude(customer_number="DE1").values().order_by("pk"))
            changed = [row for row in after if row not in outside]
            assert not changed or all(row["restriction"] == "DE" for row in changed), changed
            raise _Rollback(response)
    except _Rollback as rollback:
        return rollback.args[0]


@pytest.mark.parametrize(
    "scopes",
    [
        DE_READER,
        DE_MANAGER,
        DE_RESTRICTION_MANAGER,
        (*DE_MANAGER, "customer.import_manage"),
        (*DE_READER, "audit.audit_read--DE"),
        (*DE_READER, "customer.privacy_manage--DE"),
    ],
    ids=[
        "de-reader",
        "de-manager",
        "de-restriction-manager",
        "de-importer",
        "de-auditor",
        "de-privacy-officer",
    ],
)
def test_no_response_reveals_an_invisible_customer(audited_world, api_as, scopes):
    world = audited_world  # (every customer has restriction history for the audit routes)
    CustomerView.objects.bulk_create(  # ... and has been read, with a purpose naming it
        CustomerView(
            tenant=customer.tenant,
            customer_number=customer.customer_number,
            actor_kind="api_client",
            actor_id="cl_reader",
            actor_name="a reader",
            channel="api",
            how="get",
            keep_until=timezone.localdate(),
            purpose=f"about {customer.last_name}",
        )
        for customer in world.values()
    )
    CustomerErasure.objects.bulk_create(  # an erasure of a customer of each restriction
        CustomerErasure(
            tenant=customer.tenant,
            customer_number=f"{customer.customer_number}-ERASED",
            restriction=customer.restriction,
            actor_kind="api_client",
            actor_id="cl_officer",
            channel="api",
            reason=f"asked by {customer.last_name}",
        )
        for customer in world.values()
    )
    # Every customer's export, ready and waiting for someone else (a privacy officer).
    export_ids = [
        str(
            PrivacyExport.objects.create(
                tenant=customer.tenant,
                customer_number=customer.customer_number,
                status="ready",
                actor_kind="api_client",
                actor_id="cl_officer",
                channel="api",
                expires_at=timezone.now() + timedelta(hours=1),
                document={"customer": {"lastName": customer.last_name}},
            ).pk
        )
        for customer in world.values()
    ]
    http = api_as(*scopes)
    forbidden = forbidden_strings(world)
    addresses = {
        a.customer.customer_number: a.address_id for a in Address.objects.select_related("customer")
    }
    succeeded = set()
    checked = 0
    for route, name, view in api_routes():
        for url in dict.fromkeys(concrete_urls(route, addresses, export_ids)):
            for method in view.required_scope:
                bodies = BODIES[name] if method in {"POST", "PUT", "PATCH"} else [None]
                for body in bodies:
                    call = getattr(http, method.lower())
                    kwargs = {"HTTP_X_TOTAL_COUNT": "true"}
                    if body is not None:
                        kwargs.update(data=body, format="json")
                    response = probe(lambda c=call, k=kwargs, u=url: c(u + QUERY, **k))
                    assert response.status_code < 500, (method, url, response.content)
                    text = response.content.decode() + json.dumps(dict(response.headers))
                    if response.status_code == 201 and method == "PUT":
                        # A PUT that creates echoes the id the client chose in its URL (another
                        # tenant's OT-DE1, FR1's address id on DE1); that reveals nothing.
                        text = text.replace(url.rsplit("/", 1)[1], "")
                    leaked = {s for s in forbidden if s in text}
                    assert not leaked, (method, url, body, leaked)
                    if response.status_code < 300:
                        succeeded.add((name, method))
                    checked += 1
    assert checked > 100
    # Cursors handed to an unrestricted reader, replayed by this principal, show it nothing more.
    wide = api_as("customer.customer_read")
    link = wide.get("/customer/acme/customers", {"pageSize": 1}).headers["Link"]
    while link:
        url = link[1 : link.index(">")].removeprefix("http://testserver")
        response = http.get(url)
        assert response.status_code == 200
        leaked = {s for s in forbidden if s in response.content.decode()}
        assert not leaked, (url, leaked)
        link = wide.get(url).headers.get("Link")
    if scopes == (*DE_MANAGER, "customer.import_manage"):
        assert succeeded >= MUST_SUCCEED, MUST_SUCCEED - succeeded
    elif scopes == DE_READER:
        assert {method for _, method in succeeded} == {"GET", "POST"}  # reads and search only
        assert succeeded >= {(n, m) for n, m in MUST_SUCCEED if m == "GET"}
    elif "audit.audit_read--DE" in scopes:
        assert {
            ("restriction-change-list", "GET"),
            ("customer-restriction-change-list", "GET"),
        } <= (succeeded)
