"""Data-subject requests through the API: erasure removes the customer's personal data
everywhere this service keeps it and keeps the record that it happened; a legal hold blocks
erasure and deletion; a data-protection officer's suffix limits them like any other scope."""

import shutil
import subprocess

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from customers.models import Account, Address, Customer, CustomerErasure, CustomerView

pytestmark = pytest.mark.django_db
CUSTOMERS = "/customer/acme/customers"
DPO = ("customer.privacy_manage",)
DE_DPO = ("customer.privacy_manage--DE",)


def erase(http, number, reason="Art. 17 request 2026-118"):
    return http.post(f"{CUSTOMERS}/{number}/erasure", {"reason": reason}, format="json")


def test_erasure_removes_the_customer_and_keeps_that_it_happened(world, api_as, tenant):
    from tests.factories import EmployeeFactory

    reader = api_as("customer.customer_read")
    reader.get(f"{CUSTOMERS}/DE1", HTTP_X_PURPOSE="Call from Jane FirstDE1")
    reader.get(f"{CUSTOMERS}/FR1", HTTP_X_PURPOSE="Call about FR1")
    de1 = world["DE1"]
    LogEntry.objects.create(
        user=EmployeeFactory(tenant=tenant),
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(de1.pk),
        object_repr=str(de1),
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["Last name"]}}]',
    )
    dpo = api_as(*DE_DPO)
    answer = erase(dpo, "DE1")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["customerNumber"] == "DE1" and body["reason"] == "Art. 17 request 2026-118"
    assert body["erasedBy"]["id"] == dpo.api_client.client_id and body["channel"] == "api"
    assert not Customer.objects.filter(customer_number="DE1").exists()
    assert not Address.objects.filter(customer_id=de1.pk).exists()
    assert not Account.objects.filter(customer_id=de1.pk).exists()
    record = CustomerErasure.objects.get(customer_number="DE1")
    assert (record.restriction, record.reason) == ("DE", "Art. 17 request 2026-118")
    purposes = dict(CustomerView.objects.values_list("customer_number", "purpose"))
    assert purposes == {"DE1": "", "FR1": "Call about FR1"}  # the read stays, its purpose goes
    entry = LogEntry.objects.get(object_id=str(de1.pk))
    assert "FirstDE1" not in entry.object_repr and entry.change_message == ""
    # The number is taken for good, even where the tenant gives deleted numbers out again.
    tenant.customer_number_reuse = True
    tenant.save()
    again = api_as("customer.customer_manage").post(CUSTOMERS, {"id": "DE1"}, format="json")
    assert again.status_code == 409


def test_a_customer_outside_the_suffix_is_not_found_and_an_erased_one_is_a_conflict(world, api_as):
    dpo = api_as(*DE_DPO)
    outside = erase(dpo, "FR1")
    missing = erase(dpo, "NOPE")
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["message"] == missing.json()["message"]
    assert Customer.objects.filter(customer_number="FR1").exists()
    assert erase(dpo, "DE1").status_code == 200
    twice = erase(dpo, "DE1")
    assert twice.status_code == 409 and "was erased already" in twice.json()["message"]
    # ... which only those who cover it learn: for an FR officer it is just not there.
    assert erase(api_as("customer.privacy_manage--FR"), "DE1").status_code == 404


def test_reading_or_managing_customers_does_not_allow_erasure(world, api_as):
    refused = erase(api_as("customer.customer_manage", "customer.customer_read"), "DE1")
    assert refused.status_code == 403
    assert "customer.privacy_manage" in refused.json()["message"]
    assert Customer.objects.filter(customer_number="DE1").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Say why (reason): it is kept with the record."),
        ({"reason": "   "}, "Say why (reason): it is kept with the record."),
        ({"reason": 7}, "Say why (reason): it is kept with the record."),
        ({"reason": "x" * 501}, "The reason is at most 500 characters (501 given)."),
        ({"reason": "a\x00b"}, "The reason cannot contain control characters."),
    ],
)
def test_a_bad_reason_is_a_400_and_nothing_is_erased(world, api_as, body, message):
    answer = api_as(*DPO).post(f"{CUSTOMERS}/DE1/erasure", body, format="json")
    assert answer.status_code == 400
    assert answer.json()["message"] == message
    assert Customer.objects.filter(customer_number="DE1").exists()
    assert not CustomerErasure.objects.exists()


def test_a_legal_hold_blocks_erasure_and_deletion_until_lifted(world, api_as):
    dpo = api_as(*DE_DPO)
    hold = dpo.put(f"{CUSTOMERS}/DE1/legal-hold", {"reason": "Litigation 4 O 12/26"}, format="json")
    assert hold.status_code == 200
    assert hold.json() == {"customerNumber": "DE1", "legalHold": "Litigation 4 O 12/26"}
    refused = erase(dpo, "DE1")
    assert refused.status_code == 409
    assert "under a legal hold (Litigation 4 O 12/26)" in refused.json()["message"]
    manager = api_as("customer.customer_manage")
    deletion = manager.delete(f"{CUSTOMERS}/DE1")
    assert deletion.status_code == 409 and "legal hold" in deletion.json()["message"]
    assert Customer.objects.filter(customer_number="DE1").exists()
    assert dpo.put(f"{CUSTOMERS}/FR1/legal-hold", {"reason": "x"}, format="json").status_code == 404
    assert dpo.delete(f"{CUSTOMERS}/DE1/legal-hold").status_code == 204
    assert erase(dpo, "DE1").status_code == 200


def test_the_customer_document_does_not_carry_the_hold(world, api_as):
    """(The hold is data-protection staff's business, not every integration's.)"""
    api_as(*DPO).put(f"{CUSTOMERS}/DE1/legal-hold", {"reason": "Audit"}, format="json")
    document = api_as("customer.customer_read").get(f"{CUSTOMERS}/DE1").json()
    assert "Audit" not in str(document)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a dump of the PostgreSQL database")
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_after_an_erasure_a_dump_of_the_whole_database_holds_none_of_its_personal_data(
    world, api_as
):
    from tests.factories import AddressFactory

    de1 = world["DE1"]
    Customer.objects.filter(pk=de1.pk).update(
        middle_name="Quirinalis",
        company="Zwetschgenbaum GmbH",
        contact_phone="+49 8821 777123",
        contact_email="quirin@zwetschgen.example",
    )
    Account.objects.filter(customer=de1).update(email="login.quirin@zwetschgen.example")
    AddressFactory(customer=de1, street="Hollerweg", city="Oberammergau", contact_name="Xaverl")
    api_as("customer.customer_read").get(
        f"{CUSTOMERS}/DE1", HTTP_X_PURPOSE="Complaint by Quirinalis"
    )
    asked = api_as(*DPO).post(f"{CUSTOMERS}/DE1/privacy-export", HTTP_X_PURPOSE="For Quirinalis")
    assert asked.status_code == 202  # (built at once, the document holding everything above)
    personal = [
        "FirstDE1",
        "LastDE1",
        "quirin@zwetschgen.example",
        "login.quirin@zwetschgen.example",
        "ContactDE1",
        "Quirinalis",
        "Zwetschgenbaum",
        "8821 777123",
        "Hollerweg",
        "Oberammergau",
        "Xaverl",
    ]
    settings = connection.settings_dict
    dump = [
        "pg_dump",
        "--data-only",
        "--no-owner",
        "-h",
        settings["HOST"] or "127.0.0.1",
        "-p",
        str(settings["PORT"] or 5432),
        "-U",
        "postgres",  # (the superuser: past every row policy)
        settings["NAME"],
    ]

    def dumped() -> str:
        done = subprocess.run(dump, capture_output=True, text=True, check=False)  # noqa: S603
        assert done.returncode == 0, done.stderr
        return done.stdout

    before = dumped()
    assert all(text in before for text in personal)  # (the dump sees them while they exist)
    assert erase(api_as(*DPO), "DE1").status_code == 200
    after = dumped()
    assert [text for text in personal if text in after] == []
    assert "Art. 17 request 2026-118" in after  # what stays: that it was erased, and why


# -- the back office ----------------------------------------------------------------------------

CHANGELIST = "/admin/customers/customer/"


@pytest.fixture
def officer(tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    group = AccessGroupFactory(
        tenant=tenant,
        name="DE privacy",
        scopes=["customer.customer_read", "customer.privacy_manage"],
        restrictions=["DE"],
    )
    return EmployeeFactory(tenant=tenant, username="officer", access_groups=[group])


def act(client, action, customers, **extra):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    data = {"action": action, ACTION_CHECKBOX_NAME: [str(c.pk) for c in customers], **extra}
    return client.post(CHANGELIST, data, follow=True)


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_back_office_erases_a_selection_after_asking_why(world, client, officer, tenant):
    from tests.factories import CustomerFactory

    more = [CustomerFactory(tenant=tenant, restriction="DE") for _ in range(3)]
    client.force_login(officer)
    asked = act(client, "erase_selected_customers", [world["DE1"], *more])
    page = asked.content.decode()
    assert "Erase the personal data of 4 customers?" in page and 'name="reason"' in page
    empty = act(client, "erase_selected_customers", [world["DE1"], *more], post="yes", reason="")
    assert "This field is required." in empty.content.decode()
    assert Customer.objects.filter(tenant=tenant, restriction="DE").count() == 4
    done = act(
        client, "erase_selected_customers", [world["DE1"], *more], post="yes", reason="Art. 17"
    )
    assert "Erased the personal data of 4 customers" in " ".join(shown_messages(done))
    assert not Customer.objects.filter(tenant=tenant, restriction="DE").exists()
    assert set(CustomerErasure.objects.values_list("actor_name", "channel", "reason")) == {
        ("officer", "admin", "Art. 17")
    }


def test_a_legal_hold_in_the_back_office_blocks_erasure_and_delete(world, client, officer):
    client.force_login(officer)
    held = act(client, "hold_selected_customers", [world["DE1"]], post="yes", reason="Lawsuit")
    assert "1 customer put under a legal hold." in shown_messages(held)
    page = client.get(f"{CHANGELIST}{world['DE1'].pk}/change/").content.decode()
    assert "Lawsuit" in page
    refused = act(client, "erase_selected_customers", [world["DE1"]], post="yes", reason="x")
    assert "1 selected customer is under a legal hold; nothing was erased." in " ".join(
        shown_messages(refused)
    )
    released = act(client, "release_selected_customers", [world["DE1"]])
    assert "1 customer released from their legal hold." in shown_messages(released)
    assert Customer.objects.get(customer_number="DE1").legal_hold == ""


def test_the_privacy_actions_are_offered_to_privacy_officers_only(world, client, tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    manager = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(
                tenant=tenant, scopes=["customer.customer_read", "customer.customer_manage"]
            )
        ],
    )
    client.force_login(manager)
    actions = client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert "erase_selected_customers" not in dict(actions)
    refused = act(client, "erase_selected_customers", [world["DE1"]], post="yes", reason="x")
    assert Customer.objects.filter(customer_number="DE1").exists()
    assert refused.status_code == 200  # (Django's "No action selected." for an unknown action)


def test_a_selection_beyond_the_officers_suffix_is_refused_whole(world, client, tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    reader_everywhere = AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])
    de_privacy = AccessGroupFactory(
        tenant=tenant, scopes=["customer.privacy_manage"], restrictions=["DE"]
    )
    client.force_login(
        EmployeeFactory(tenant=tenant, access_groups=[reader_everywhere, de_privacy])
    )
    refused = act(
        client, "erase_selected_customers", [world["DE1"], world["FR1"]], post="yes", reason="x"
    )
    assert "1 selected customer is outside your privacy scope" in " ".join(shown_messages(refused))
    assert Customer.objects.filter(customer_number__in=["DE1", "FR1"]).count() == 2


def test_a_large_selection_is_erased_by_a_background_job_in_batches(
    world, client, officer, tenant, settings, django_capture_on_commit_callbacks
):
    from customers.models import Job
    from tests.factories import CustomerFactory

    settings.BULK_JOB_THRESHOLD = 3
    settings.BULK_JOB_BATCH_SIZE = 2
    more = [CustomerFactory(tenant=tenant, restriction="DE") for _ in range(4)]
    client.force_login(officer)
    with django_capture_on_commit_callbacks(execute=True):
        started = act(
            client,
            "erase_selected_customers",
            [world["DE1"], *more],
            post="yes",
            reason="Art. 17 batch",
        )
    assert "Started a background job for 5 customers." in " ".join(shown_messages(started))
    job = Job.objects.get()
    assert (job.kind, job.status, job.changed) == ("erase_customers", "succeeded", 5)
    assert job.message == "Erased the personal data of 5 customers."
    assert not Customer.objects.filter(tenant=tenant, restriction="DE").exists()
    assert CustomerErasure.objects.filter(reason="Art. 17 batch").count() == 5


def test_the_audit_api_lists_erasures_as_far_as_the_scope_covers_them(world, api_as):
    dpo = api_as(*DPO)
    assert erase(dpo, "DE1", "Art. 17 for DE1").status_code == 200
    assert erase(dpo, "FR1", "Art. 17 for FR1").status_code == 200
    everything = api_as("audit.audit_read").get("/customer/acme/erasures")
    assert [(e["customerNumber"], e["restriction"]) for e in everything.json()] == [
        ("FR1", "FR"),
        ("DE1", "DE"),
    ]
    assert everything.json()[0]["erasedBy"]["id"] == dpo.api_client.client_id
    de = api_as("audit.audit_read--DE").get("/customer/acme/erasures")
    assert [e["reason"] for e in de.json()] == ["Art. 17 for DE1"]
    mine = api_as("audit.audit_read").get(
        f"/customer/acme/erasures?actor={dpo.api_client.client_id}&customerNumber=DE1"
    )
    assert [e["customerNumber"] for e in mine.json()] == ["DE1"]
    assert api_as("customer.customer_read").get("/customer/acme/erasures").status_code == 403
    bad = api_as("audit.audit_read").get("/customer/acme/erasures?erasedFrom=yesterday")
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "erasedFrom"


def test_the_back_office_lists_erasures_to_audit_readers(world, api_as, client, tenant):
    from tests.factories import AccessGroupFactory, EmployeeFactory

    erase(api_as(*DPO), "FR1", "Art. 17 for FR1")
    de_auditor = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(
                tenant=tenant,
                scopes=["customer.customer_read", "audit.audit_read"],
                restrictions=["DE"],
            )
        ],
    )
    auditor = EmployeeFactory(
        tenant=tenant,
        access_groups=[
            AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read", "audit.audit_read"])
        ],
    )
    client.force_login(auditor)
    page = client.get("/admin/customers/customererasure/")
    assert [e.customer_number for e in page.context["cl"].result_list] == ["FR1"]
    client.force_login(de_auditor)
    assert list(client.get("/admin/customers/customererasure/").context["cl"].result_list) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two transactions at once")
@pytest.mark.django_db(transaction=True)
def test_two_erasures_of_one_customer_at_once_erase_it_once_and_tell_the_other(world, api_as):
    from tests.threads import at_once

    first, second = api_as(*DPO), api_as(*DPO)
    answers = at_once(lambda: erase(first, "DE1"), lambda: erase(second, "DE1"))
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    (refused,) = [answer for answer in answers if answer.status_code == 409]
    assert "was erased already" in refused.json()["message"]
    assert CustomerErasure.objects.filter(customer_number="DE1").count() == 1
