"""Data-subject exports: asked for through the API, built by the task worker as the requester is
then, downloaded once by the requester only, gone after an expiry or an erasure."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import CustomerView, PrivacyExport
from tests.factories import RestrictionChangeFactory

pytestmark = pytest.mark.django_db
CUSTOMERS = "/customer/acme/customers"
EXPORTS = "/customer/acme/privacy-exports"
DE_DPO = ("customer.privacy_manage--DE",)


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    def ask(http, number):
        with django_capture_on_commit_callbacks(execute=True):  # (the worker, at once)
            return http.post(f"{CUSTOMERS}/{number}/privacy-export")

    return ask


def test_an_export_holds_everything_about_the_customer_and_downloads_once(world, api_as, ask):
    RestrictionChangeFactory(customer=world["DE1"], old_value=None, new_value="DE")
    api_as("customer.customer_read").get(f"{CUSTOMERS}/DE1", HTTP_X_PURPOSE="Ticket 9")
    dpo = api_as(*DE_DPO)
    asked = ask(dpo, "DE1")
    assert asked.status_code == 202, asked.content
    location = asked["Location"]
    assert location.endswith(f"{EXPORTS}/{asked.json()['id']}")
    followed = dpo.get(location)
    assert followed.json()["status"] == "ready"
    assert followed.json()["document"] == f"{location}/document"
    download = dpo.get(f"{location}/document")
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="customer-DE1-export.json"'
    document = download.json()
    assert document["format"] == "customer-data-export/1" and document["customerNumber"] == "DE1"
    profile = document["customer"]
    assert profile["firstName"] == "FirstDE1" and profile["contactEmail"] == "de1@example.com"
    assert [a["contactName"] for a in profile["addresses"]] == ["ContactDE1"]
    assert profile["accounts"] == [{"id": "de1@example.com"}]
    assert "password" not in str(document).lower()  # no secret, not even a hash
    assert [c["newValue"] for c in document["restrictionHistory"]] == ["DE"]
    assert [(v["how"], v["purpose"]) for v in document["views"]] == [("get", "Ticket 9")]
    # Once: the document is gone as it is handed out.
    again = dpo.get(f"{location}/document")
    assert again.status_code == 410 and "downloaded on" in again.json()["message"]
    export = PrivacyExport.objects.get()
    assert export.document is None and export.downloaded_at is not None
    assert dpo.get(location).json()["status"] == "downloaded"


def test_only_the_requester_sees_an_export(world, api_as, ask):
    dpo = api_as(*DE_DPO)
    location = ask(dpo, "DE1")["Location"]
    colleague = api_as(*DE_DPO)  # the same rights, another identity
    assert colleague.get(location).status_code == 404
    assert colleague.get(f"{location}/document").status_code == 404
    assert colleague.get(f"{EXPORTS}/99999").json() == colleague.get(location).json()
    assert PrivacyExport.objects.get().status == "ready"  # (untouched by them)


def test_a_customer_outside_the_scope_is_not_found_and_nothing_is_recorded(world, api_as, ask):
    dpo = api_as(*DE_DPO)
    assert ask(dpo, "FR1").status_code == 404
    assert ask(dpo, "NOPE").status_code == 404
    refused = ask(api_as("customer.customer_read"), "DE1")
    assert refused.status_code == 403 and "customer.privacy_manage" in refused.json()["message"]
    assert not PrivacyExport.objects.exists()


def test_an_export_expires_unread(world, api_as, ask):
    dpo = api_as(*DE_DPO)
    location = ask(dpo, "DE1")["Location"]
    PrivacyExport.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    late = dpo.get(f"{location}/document")
    assert late.status_code == 410 and "expired on" in late.json()["message"]
    assert PrivacyExport.objects.get().document is None


def test_an_erasure_removes_a_waiting_export(world, api_as, ask):
    dpo = api_as(*DE_DPO)
    location = ask(dpo, "DE1")["Location"]
    erased = dpo.post(f"{CUSTOMERS}/DE1/erasure", {"reason": "Art. 17"}, format="json")
    assert erased.status_code == 200
    assert dpo.get(f"{location}/document").status_code == 410
    assert PrivacyExport.objects.get().document is None


def test_a_requester_who_lost_the_scope_before_the_worker_ran_gets_no_data(
    world, api_as, django_capture_on_commit_callbacks
):
    dpo = api_as(*DE_DPO)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        location = dpo.post(f"{CUSTOMERS}/DE1/privacy-export")["Location"]
    client = dpo.api_client
    client.scopes = ["customer.privacy_manage--FR"]
    client.save()
    for callback in pending:  # the worker runs now, after the change
        callback()
    export = PrivacyExport.objects.get()
    assert export.status == "failed" and export.document is None
    assert "nothing was exported" in export.message
    assert location  # (the request itself was accepted while the scope was held)


def test_the_back_office_asks_for_an_export_and_downloads_it_once(
    world, client, tenant, django_capture_on_commit_callbacks
):
    import json

    from tests.factories import AccessGroupFactory, EmployeeFactory

    group = AccessGroupFactory(
        tenant=tenant,
        scopes=["customer.customer_read", "customer.privacy_manage"],
        restrictions=["DE"],
    )
    officer = EmployeeFactory(tenant=tenant, username="officer", access_groups=[group])
    client.force_login(officer)
    page = client.get(f"/admin/customers/customer/{world['DE1'].pk}/change/").content.decode()
    assert 'id="privacy-export">Export personal data</button>' in page
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(
            f"/admin/customers/customer/{world['DE1'].pk}/privacy-export/",
            {"purpose": "Art. 15 request 7"},
            follow=True,
        )
    assert "The export of DE1 is being prepared" in asked.content.decode()
    export = PrivacyExport.objects.get()
    assert (export.actor_name, export.channel, export.status) == ("officer", "admin", "ready")
    download_url = f"/admin/customers/privacyexport/{export.pk}/download/"
    listing = client.get("/admin/customers/privacyexport/").content.decode()
    assert f'href="{download_url}">Download (once)</a>' in listing
    mark = CustomerView.objects.count()
    download = client.get(download_url)
    assert json.loads(download.content)["customer"]["lastName"] == "LastDE1"
    read = CustomerView.objects.order_by("pk")[mark:]
    assert [(v.customer_number, v.how, v.channel, v.actor_name, v.purpose) for v in read] == [
        ("DE1", "export", "admin", "officer", "Art. 15 request 7")
    ]
    again = client.get(download_url, follow=True)
    assert "nothing to download" in again.content.decode()
    # Nobody else sees it, not even a tenant's other privacy officer.
    client.force_login(EmployeeFactory(tenant=tenant, access_groups=[group]))
    assert list(client.get("/admin/customers/privacyexport/").context["cl"].result_list) == []


def test_the_export_button_needs_the_privacy_scope_and_a_post(world, client, tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    reader = EmployeeFactory(
        tenant=tenant,
        access_groups=[AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])],
    )
    client.force_login(reader)
    url = f"/admin/customers/customer/{world['DE1'].pk}/privacy-export/"
    assert (
        "Export personal data"
        not in client.get(url.replace("privacy-export/", "change/")).content.decode()
    )
    assert client.post(url).status_code == 403
    assert not PrivacyExport.objects.exists()


def test_the_download_is_a_read_in_the_log_with_the_purpose_given_and_only_the_download(
    world, api_as, django_capture_on_commit_callbacks
):
    dpo = api_as(*DE_DPO)
    with django_capture_on_commit_callbacks(execute=True):
        asked = dpo.post(f"{CUSTOMERS}/DE1/privacy-export", HTTP_X_PURPOSE="Ticket 12")
    location = asked["Location"]
    assert dpo.get(location).json()["status"] == "ready"
    assert CustomerView.objects.count() == 0  # (asked for and built: nothing served yet)
    assert dpo.get(f"{location}/document").status_code == 200
    assert dpo.get(f"{location}/document").status_code == 410  # (nothing served again)
    (line,) = CustomerView.objects.all()
    assert (line.customer_number, line.how, line.channel, line.purpose) == (
        "DE1",
        "export",
        "api",
        "Ticket 12",
    )
    assert line.actor_id == dpo.api_client.client_id


@pytest.mark.parametrize("purpose", ["x" * 201, "line\nbreak"])
def test_an_export_with_a_bad_purpose_is_refused_and_nothing_is_asked(world, api_as, purpose):
    answer = api_as(*DE_DPO).post(f"{CUSTOMERS}/DE1/privacy-export", HTTP_X_PURPOSE=purpose)
    assert answer.status_code == 400
    assert PrivacyExport.objects.count() == 0
