"""The generic leak test: every API route, discovered from the URL conf, walked with every
method as DE-only principals against a data set with FR/US/null customers and another tenant.
No identifier of an invisible customer may appear in any response body or header."""

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from customers.models import Address
from tests.conftest import DE_MANAGER, DE_READER, DE_RESTRICTION_MANAGER

pytestmark = pytest.mark.django_db

NUMBERS = ["DE1", "FR1", "US1", "NULL1", "OT-DE1", "NOPE"]
BODIES = {
    "customer-list": [{"firstName": "Probe", "restriction": "FR"}, {"firstName": "Probe"}],
    "customer-import": [
        [
            {"firstName": "Probe", "restriction": "FR"},
            {"id": "FR1"},
            {"contactEmail": "leak-probe2@example.com"},
        ]
    ],
    "customer-search": [{"q": ""}, {"q": "restriction:(FR,US)"}, {"q": "lastName:~Last"}],
    "customer-detail": [{"firstName": "Probe", "restriction": "FR"}, {"restriction": None}],
    "customer-account": [{"email": "leak-probe@example.com"}],
    "address-list": [{"contactName": "Probe", "country": "DE"}],
    "address-detail": [{"contactName": "Probe", "country": "DE"}],
    "address-tags": [None],
}
QUERY = "?expand=addresses,accounts,mixin:*&pageSize=1000&tags=A&sort=lastName:desc"


def api_routes():
    """(route, name, view class) for every URL pattern under customer/<tenant>/."""
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("customer/"):
                    found.append((route, pattern.name, pattern.callback.view_class))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_has_probe_bodies():
    # A new route must be added to the walk (and given bodies) or this fails.
    assert {name for _, name, _ in api_routes()} == set(BODIES)


def forbidden_strings(world):
    strings = set()
    for key, customer in world.items():
        if key == "DE1":
            continue
        strings |= {key, customer.contact_email, customer.first_name, customer.last_name}
        for address in Address.objects.filter(customer=customer):
            strings |= {address.address_id, address.contact_name}
    return {s for s in strings if s}


def concrete_urls(route, addresses):
    for number in NUMBERS:
        for address_id in {addresses.get(number, "none"), addresses["FR1"], addresses["DE1"]}:
            values = {"tenant": "acme", "customer_number": number, "address_id": address_id}
            # Any converter: <str:tenant>, <identifier:customer_number>, ...
            yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m, v=values: v[m.group(1)], route)


@pytest.mark.parametrize(
    "scopes",
    [DE_READER, DE_MANAGER, DE_RESTRICTION_MANAGER, (*DE_MANAGER, "customer.import_manage")],
    ids=["de-reader", "de-manager", "de-restriction-manager", "de-importer"],
)
def test_no_response_reveals_an_invisible_customer(world, api_as, scopes):
    http = api_as(*scopes)
    forbidden = forbidden_strings(world)
    addresses = {
        a.customer.customer_number: a.address_id for a in Address.objects.select_related("customer")
    }
    checked = 0
    for route, name, view in api_routes():
        for url in dict.fromkeys(concrete_urls(route, addresses)):
            # DELETE last, so the other methods still meet the DE customer.
            for method in sorted(view.required_scope, key=lambda m: (m == "DELETE", m)):
                bodies = BODIES[name] if method in {"POST", "PUT", "PATCH"} else [None]
                for body in bodies:
                    call = getattr(http, method.lower())
                    if body is None:
                        response = call(url + QUERY, HTTP_X_TOTAL_COUNT="true")
                    else:
                        response = call(url + QUERY, body, format="json", HTTP_X_TOTAL_COUNT="true")
                    assert response.status_code < 500, (method, url, response.content)
                    text = response.content.decode() + json.dumps(dict(response.headers))
                    leaked = {s for s in forbidden if s in text}
                    assert not leaked, (method, url, body, leaked)
                    checked += 1
    assert checked > 100
