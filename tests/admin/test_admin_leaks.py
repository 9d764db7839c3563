"""The generic leak test for the back office: every registered admin (changelist with search and
filters, add, change, history, delete and password pages of every object, autocomplete, every
action POSTed with tampered selections, its confirmation page and its confirmation) walked as a
DE reader, a DE employee, a DE+FR employee and a tenant administrator; no identifier of a
customer they may not read may appear, and no such customer may change."""

import re

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import Employee
from customers.models import (
    Customer,
    CustomerErasure,
    CustomerView,
    Job,
    JobKind,
    JobRestriction,
)
from tests.customers.test_leaks import forbidden_strings, probe

pytestmark = pytest.mark.django_db
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
# The explainer echoes the number the walker typed into its own field, and a list asked for one
# customer's rows (?customer_number=) into its own links; that reveals nothing.
TYPED_NUMBER = re.compile(r'<input[^>]*name="customer_number"[^>]*>|customer_number=[\w-]+')
LISTING_QUERIES = [
    "",
    "?q=Last",
    "?q=fr1%40exam",
    "?restriction=FR",
    "?restriction=__none__",
    "?o=-2",
    "?all=",
    "?_facets=True",
    "?_facets=True&restriction=FR",
]


def admin_urls():
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        for query in LISTING_QUERIES:
            yield changelist + query
        yield reverse("admin:{}_{}_add".format(*info))
        for pk in model._default_manager.values_list("pk", flat=True):
            for view in ("change", "history", "delete", "password_change"):
                try:
                    yield reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[pk])
                except NoReverseMatch:  # only the employee admin has a password page
                    continue
        if model is CustomerView:  # each customer's reads, asked for every customer
            for number in Customer.objects.values_list("customer_number", flat=True):
                yield f"{changelist}?customer_number={number}"
        if model is Customer:  # the access explainer, asked about every customer
            explain = reverse("admin:customers_explain_access")
            identities = [f"employee:{pk}" for pk in Employee.objects.values_list("pk", flat=True)]
            for number in Customer.objects.values_list("customer_number", flat=True):
                for identity in identities:
                    yield f"{explain}?identity={identity}&customer_number={number}"
            for value in ("FR", "US", "__none__"):
                yield f"{explain}?identity={identities[0]}&restriction={value}"
            for number in Customer.objects.values_list("customer_number", flat=True):
                yield f"{explain}?customer_number={number}"  # who may see it (everyone)
                yield f"{explain}?customer_number={number}&format=csv"
        for field in getattr(model_admin, "autocomplete_fields", []):
            for term in ("", "Last", "fr1", "example"):
                yield (
                    f"/admin/autocomplete/?app_label={info[0]}&model_name={info[1]}"
                    f"&field_name={field}&term={term}"
                )


# Each action's confirmation steps: none (the confirmation page), then the confirming fields.
CONFIRMATIONS = [
    {},
    {"post": "yes"},
    {"restriction": "US"},
    {"restriction": "US", "confirm": "yes"},
]
CONFIRMATIONS += [{"restriction": "__none__", "confirm": "yes"}]


def action_posts(world):
    """(changelist URL, POST data) for every action of every admin, with selections tampered:
    every object (visible or not), only objects of invisible customers, and "select all"."""
    invisible = [world[n].pk for n in ("FR1", "US1", "NULL1", "OT-DE1")]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        names = [*(model_admin.actions or []), *admin.site._actions]
        every = list(model._default_manager.values_list("pk", flat=True))
        selections = [
            {ACTION_CHECKBOX_NAME: every},
            {"select_across": "1", ACTION_CHECKBOX_NAME: every[:1]},
        ]
        if model is Customer:
            selections.append({ACTION_CHECKBOX_NAME: invisible})
        for name in names:
            for selection in selections:
                for confirmation in CONFIRMATIONS:
                    yield changelist, {"action": name, "index": "0", **selection, **confirmation}


def check_page(response, forbidden, where):
    # 400: a changelist refusing a lookup its own filters do not make (core.admin).
    assert response.status_code in {200, 302, 400, 403, 404}, where
    # The random CSRF token could contain a short identifier such as "US1" by chance.
    text = TYPED_NUMBER.sub("", CSRF_TOKEN.sub("", response.content.decode()))
    leaked = {s for s in forbidden if s in text}
    assert not leaked, (where, leaked)


WALKERS = {
    "de-reader": ([(["customer.customer_read"], ["DE"])], ["DE1"]),
    "de-employee": (
        [
            (["customer.customer_read", "customer.customer_manage"], ["DE"]),
            (["restriction.restriction_manage"], ["DE"]),
        ],
        ["DE1"],
    ),
    "de-fr-employee": (
        [
            (["customer.customer_read", "customer.customer_manage"], ["DE", "FR"]),
            (["restriction.restriction_manage"], ["DE", "FR"]),
        ],
        ["DE1", "FR1"],
    ),
    "de-tenant-admin": (
        [(["customer.customer_manage"], ["DE"]), (["tenant.tenant_manage"], [])],
        ["DE1"],
    ),
    # (the read-access log's pages: reads of DE customers only)
    "de-auditor": ([(["customer.customer_read", "audit.audit_read"], ["DE"])], ["DE1"]),
}


READERS_ONLY = {"de-reader", "de-auditor"}  # (whose delete actions are refused)


@pytest.fixture(params=list(WALKERS))
def walk(request, audited_world, employee, client):
    """A logged-in walker, what they may read, and a job of theirs over customers they cannot
    see (as if their grants shrank since)."""
    world = audited_world
    groups, visible = WALKERS[request.param]
    walker = employee("walker", *groups)
    job = Job.objects.create(
        tenant=world["FR1"].tenant,
        kind=JobKind.ASSIGN_RESTRICTION,
        requested_by=walker,
        requested_by_name="walker",
        target="US",
        selection={"ids": [world[n].pk for n in ("FR1", "US1", "NULL1")]},
        selection_label="FR1 US1 NULL1",
    )
    JobRestriction.objects.bulk_create(
        JobRestriction(tenant_id=job.tenant_id, job=job, restriction=value)
        for value in ("FR", "US", None)
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
    CustomerView.objects.bulk_create(  # every customer read once, by someone else
        CustomerView(
            tenant=customer.tenant,
            customer_number=customer.customer_number,
            actor_kind="api_client",
            actor_id="cl_reader",
            actor_name="a reader",
            channel="api",
            how="get",
            keep_until=timezone.localdate(),
        )
        for customer in world.values()
    )
    client.force_login(walker)
    return client, world, visible, request.param


def test_no_admin_page_reveals_an_invisible_customer(walk):
    client, world, visible, _ = walk
    forbidden = forbidden_strings(world, visible)
    urls = list(dict.fromkeys(admin_urls()))
    assert len(urls) > 50
    for url in urls:
        check_page(client.get(url), forbidden, url)


def test_no_admin_action_reveals_or_changes_an_invisible_customer(walk):
    client, world, visible, name = walk
    forbidden = forbidden_strings(world, visible)
    outside = {key: c for key, c in world.items() if key not in visible}
    before = {c.pk: (c.restriction, c.version) for c in outside.values()}
    posts = list(action_posts(world))
    assert len(posts) > 100

    def unchanged():
        rows = Customer.objects.filter(pk__in=before).values_list("pk", "restriction", "version")
        return {pk: (restriction, version) for pk, restriction, version in rows} == before

    deleted = assigned = False
    for url, data in posts:
        response = probe(lambda u=url, d=data: (client.post(u, d, follow=True), unchanged()))
        page, untouched = response
        check_page(page, forbidden, (url, data))
        assert untouched, (url, data)
        text = page.content.decode()
        deleted |= f"Deleted {len(visible)} customer" in text
        assigned |= "Restriction US assigned" in text
    # The actions really ran on what the walker may manage (a reader's are refused); US is
    # nobody's to assign here.
    assert deleted == (name not in READERS_ONLY)
    assert not assigned
