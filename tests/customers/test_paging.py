"""Deep pages and cursors: the same customers as plain offsets, in the same order, with the
scope filter applied to every page; the cursor cannot be forged."""

import base64
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.api import paging
from customers.models import Customer
from tests.conftest import DE_READER, READER
from tests.factories import AddressFactory, CustomerFactory

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers"
NEXT = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


@pytest.fixture
def crowd(tenant, other_tenant):
    """30 customers in acme (DE, FR, null in turn; surnames repeat), 5 elsewhere."""
    customers = []
    for i in range(30):
        customer = CustomerFactory(
            tenant=tenant,
            customer_number=f"C{i:02d}",
            last_name=f"Name{i % 4}",
            restriction=["DE", "FR", None][i % 3],
        )
        AddressFactory(customer=customer, is_default=True)
        customers.append(customer)
    CustomerFactory.create_batch(5, tenant=other_tenant, restriction="DE")
    return customers


def walk(http, first_params):
    """Follow the Link headers from the first page; returns the pages' ids."""
    pages = []
    response = http.get(BASE, first_params)
    while True:
        assert response.status_code == 200, response.content
        pages.append([c["id"] for c in response.json()])
        link = response.headers.get("Link")
        if link is None:
            return pages
        response = http.get(NEXT.match(link)["url"])


@pytest.mark.parametrize(
    ("scopes", "restrictions"),
    [(READER, {"DE", "FR", None}), (DE_READER, {"DE"})],
    ids=["reader", "de-reader"],
)
def test_a_cursor_walk_returns_every_visible_customer_once(crowd, api_as, scopes, restrictions):
    http = api_as(*scopes)
    pages = walk(http, {"pageSize": 4, "q": "lastName:~^Name"})
    visible = [c.customer_number for c in crowd if c.restriction in restrictions]
    assert [number for page in pages for number in page] == visible
    assert all(len(page) == 4 for page in pages[:-1])


def test_the_next_link_keeps_the_query_and_drops_the_page_number(crowd, api_as):
    response = api_as(*READER).get(BASE, {"pageSize": 3, "pageNumber": 2, "q": "active:true"})
    url = NEXT.match(response.headers["Link"])["url"]
    assert url.startswith("http://testserver/customer/acme/customers?")
    assert "q=active%3Atrue" in url and "pageSize=3" in url and "pageNumber" not in url


def test_no_link_after_a_short_page_with_a_sort_or_on_a_search(crowd, api_as):
    http = api_as(*READER)
    assert "Link" not in http.get(BASE, {"pageSize": 100}).headers
    assert "Link" not in http.get(BASE, {"pageSize": 3, "sort": "lastName"}).headers
    search = http.post(f"{BASE}/search?pageSize=3", {"q": "active:true"}, format="json")
    assert search.status_code == 200 and len(search.json()) == 3
    assert "Link" not in search.headers


def test_a_cursor_from_a_wider_reader_shows_a_narrower_one_nothing_more(crowd, api_as):
    wide = api_as(*READER).get(BASE, {"pageSize": 2})
    url = NEXT.match(wide.headers["Link"])["url"]
    narrow = api_as(*DE_READER).get(url)
    assert narrow.status_code == 200
    assert {c["restriction"] for c in narrow.json()} == {"DE"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (lambda tenant: {"cursor": "1"}, "cursor"),
        (lambda tenant: {"cursor": paging.make_cursor(tenant.pk, 3)[:-2] + "xx"}, "cursor"),
        (lambda tenant: {"cursor": signing.dumps(3, salt=paging.CURSOR_SALT)}, "cursor"),
        (lambda tenant: {"cursor": paging.make_cursor(tenant.pk + 1, 3)}, "cursor"),
        (lambda tenant: {"cursor": "é" * 10}, "cursor"),
        (lambda tenant: {"cursor": paging.make_cursor(tenant.pk, 3), "sort": "lastName"}, "cursor"),
        (lambda tenant: {"cursor": paging.make_cursor(tenant.pk, 3), "pageNumber": 2}, "cursor"),
        (lambda tenant: {"sort": "shoeSize"}, "sort"),
    ],
    ids=["short", "altered", "signed-only", "other-tenant", "not-ascii", "sort", "page", "no"],
)
def test_forged_or_misused_cursors_are_400(crowd, api_as, tenant, params, field):
    response = api_as(*READER).get(BASE, params(tenant))
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == field


def test_a_cursor_is_opaque_and_bound_to_its_tenant(crowd, api_as, tenant, other_tenant):
    """The internal id (whose gaps would count the customers a reader cannot see) is not
    readable in the cursor, and another tenant cannot use it."""
    response = api_as(*READER).get(BASE, {"pageSize": 2})
    cursor = parse_qs(urlsplit(NEXT.match(response.headers["Link"])["url"]).query)["cursor"][0]
    last_pk = Customer.objects.get(customer_number=response.json()[-1]["id"]).pk
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert f"{tenant.pk}:{last_pk}".encode() not in raw
    assert paging.make_cursor(tenant.pk, last_pk) != paging.make_cursor(tenant.pk, last_pk)
    follow = api_as(*READER).get(BASE, {"pageSize": 2, "cursor": cursor})
    assert follow.status_code == 200 and follow.json()[0]["id"] != response.json()[0]["id"]
    elsewhere = api_as(*READER, on_tenant=other_tenant)
    refused = elsewhere.get(f"/customer/{other_tenant.code}/customers", {"cursor": cursor})
    assert refused.status_code == 400


@pytest.mark.parametrize("sort", ["", "lastName:desc", "restriction,lastName", "id:desc"])
def test_deep_pages_equal_plain_offsets(crowd, api_as, monkeypatch, sort):
    http = api_as(*DE_READER)
    params = {"pageSize": 3, "sort": sort, "expand": "addresses"}
    direct = [http.get(BASE, {**params, "pageNumber": n}).json() for n in (1, 2, 3, 4)]
    monkeypatch.setattr(paging, "DEFERRED_JOIN_OFFSET", 0)  # every page: ids first
    deferred = [http.get(BASE, {**params, "pageNumber": n}).json() for n in (1, 2, 3, 4)]
    assert deferred == direct
    assert [len(page) for page in direct] == [3, 3, 3, 1]


def test_a_deep_page_costs_the_queries_of_page_one(crowd, api_as, monkeypatch):
    http = api_as(*DE_READER)

    def queries(params):
        with CaptureQueriesContext(connection) as captured:
            assert http.get(BASE, params).status_code == 200
        return len(captured)

    queries({"pageSize": 2})  # (the principal's first request binds its context by itself)
    first = queries({"pageSize": 2})
    monkeypatch.setattr(paging, "DEFERRED_JOIN_OFFSET", 0)
    # (its ids are a subquery of the page's one statement)
    assert queries({"pageSize": 2, "pageNumber": 3}) == first
    assert queries({"pageSize": 2, "pageNumber": 4}) == first
