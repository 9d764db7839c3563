"""The generic leak test for the back office: every registered admin (changelist with search and
filters, add, change, history, delete of every object, autocomplete) walked as DE-only employees;
no identifier of an invisible customer may appear."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Employee
from customers.models import Customer, Job, JobKind, JobRestriction
from tests.customers.test_leaks import forbidden_strings

pytestmark = pytest.mark.django_db
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
# The explainer echoes the number the walker typed into its own field; that reveals nothing.
TYPED_NUMBER = re.compile(r'<input[^>]*name="customer_number"[^>]*>')
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
            for view in ("change", "history", "delete"):
                yield reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[pk])
        if model is Customer:  # the access explainer, asked about every customer
            explain = reverse("admin:customers_explain_access")
            identities = [f"employee:{pk}" for pk in Employee.objects.values_list("pk", flat=True)]
            for number in Customer.objects.values_list("customer_number", flat=True):
                for identity in identities:
                    yield f"{explain}?identity={identity}&customer_number={number}"
            for value in ("FR", "US", "__none__"):
                yield f"{explain}?identity={identities[0]}&restriction={value}"
        for field in getattr(model_admin, "autocomplete_fields", []):
            for term in ("", "Last", "fr1", "example"):
                yield (
                    f"/admin/autocomplete/?app_label={info[0]}&model_name={info[1]}"
                    f"&field_name={field}&term={term}"
                )


@pytest.mark.parametrize(
    "groups",
    [
        [(["customer.customer_read"], ["DE"])],
        [
            (["customer.customer_read", "customer.customer_manage"], ["DE"]),
            (["restriction.restriction_manage"], ["DE"]),
        ],
        [(["customer.customer_manage"], ["DE"]), (["tenant.tenant_manage"], [])],
    ],
    ids=["de-reader", "de-restriction-manager", "de-manager-tenant-admin"],
)
def test_no_admin_page_reveals_an_invisible_customer(audited_world, employee, client, groups):
    world = audited_world
    walker = employee("walker", *groups)
    # A job of the walker's own over customers they cannot see (as if their grants shrank since).
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
        JobRestriction(job=job, restriction=value) for value in ("FR", "US", None)
    )
    client.force_login(walker)
    forbidden = forbidden_strings(world)
    urls = list(dict.fromkeys(admin_urls()))
    assert len(urls) > 50
    for url in urls:
        response = client.get(url)
        assert response.status_code in {200, 302, 403, 404}, url
        # The random CSRF token could contain a short identifier such as "US1" by chance.
        text = TYPED_NUMBER.sub("", CSRF_TOKEN.sub("", response.content.decode()))
        leaked = {s for s in forbidden if s in text}
        assert not leaked, (url, leaked)
