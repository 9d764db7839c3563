"""Mass-read alerts: an identity that reads more distinct customers than its tenant allows
within the window raises one alert — e-mailed to the tenant administrators (retried), listed on
their home page until acknowledged, counted in /metrics; re-reading the same customers does
not."""

import pytest
from django.core import mail
from prometheus_client import REGISTRY

from customers.models import MassReadAlert
from tests.factories import AccessGroupFactory, CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
CUSTOMERS = "/customer/acme/customers"


@pytest.fixture
def limited(tenant):
    tenant.mass_read_customers = 5
    tenant.mass_read_minutes = 10
    tenant.save()
    numbers = [f"M{n:02}" for n in range(12)]
    for number in numbers:
        CustomerFactory(tenant=tenant, customer_number=number)
    return numbers


@pytest.fixture
def administrator(tenant):
    group = AccessGroupFactory(
        tenant=tenant, scopes=["customer.customer_read", "tenant.tenant_manage"]
    )
    return EmployeeFactory(
        tenant=tenant, username="boss", email="boss@example.com", access_groups=[group]
    )


def raised(tenant) -> float:
    return REGISTRY.get_sample_value("customer_mass_read_alerts_total", {"tenant": tenant}) or 0


def test_reading_more_distinct_customers_than_allowed_raises_one_alert(
    limited, administrator, api_as, django_capture_on_commit_callbacks
):
    reader = api_as("customer.customer_read")
    before = raised("acme")
    with django_capture_on_commit_callbacks(execute=True):
        reader.get(f"{CUSTOMERS}?pageSize=4")
        assert not MassReadAlert.objects.exists()  # 4: within the limit
        reader.get(f"{CUSTOMERS}?pageSize=4&pageNumber=2")  # 8 different ones
    alert = MassReadAlert.objects.get()
    assert (alert.actor_id, alert.customers, alert.window_minutes) == (
        reader.api_client.client_id,
        8,
        10,
    )
    assert len(alert.sample) == 8 and set(alert.sample) <= set(limited)
    assert raised("acme") == before + 1
    (message,) = mail.outbox
    assert message.to == ["boss@example.com"]
    assert "read 8 customers" in message.subject
    assert "read 8 different customers within 10 minutes" in message.body
    assert MassReadAlert.objects.get().notified_at is not None
    # More reading in the same window raises no second alert.
    with django_capture_on_commit_callbacks(execute=True):
        reader.get(f"{CUSTOMERS}?pageSize=4&pageNumber=3")
    assert MassReadAlert.objects.count() == 1


def test_the_window_adds_the_reads_of_its_earlier_minutes(each_cache, limited, api_as, monkeypatch):
    """Each read counts its minute once in the shared cache (Redis: one round trip); the
    window's earlier minutes are read once a minute and added."""
    from customers import read_log

    reader = api_as("customer.customer_read")
    minute = 29_000_000
    monkeypatch.setattr(read_log.time, "time", lambda: minute * 60 + 5)
    reader.get(f"{CUSTOMERS}?pageSize=3")
    monkeypatch.setattr(read_log.time, "time", lambda: (minute + 1) * 60 + 5)
    reader.get(f"{CUSTOMERS}?pageSize=2&pageNumber=3")  # 5 in the window: within the limit
    assert not MassReadAlert.objects.exists()
    reader.get(f"{CUSTOMERS}?pageSize=2&pageNumber=4")  # 7, the first minute's 3 among them
    assert MassReadAlert.objects.get().customers == 7
    # A minute that has left the window counts no more.
    monkeypatch.setattr(read_log.time, "time", lambda: (minute + 11) * 60 + 5)
    MassReadAlert.objects.all().delete()
    from django.core.cache import cache

    cache.delete(
        read_log._CHECKED.format(
            tenant=reader.api_client.tenant_id, kind="api_client", id=reader.api_client.client_id
        )
    )
    reader.get(f"{CUSTOMERS}?pageSize=5")
    assert not MassReadAlert.objects.exists()


def test_an_identity_over_its_limit_is_not_asked_about_at_every_read(
    each_cache, limited, api_as, monkeypatch
):
    """A busy integration stays over its limit all day: once a check was made, this process
    remembers the shared mark for a few seconds instead of asking the cache at every read, and
    the next check still comes within a minute of the last."""
    from django.core.cache import cache

    from customers import read_log

    reader = api_as("customer.customer_read")
    checked = read_log._CHECKED.format(
        tenant=reader.api_client.tenant_id, kind="api_client", id=reader.api_client.client_id
    )
    asked, checks = [], []

    class Counting:
        def add(self, key, *args, **kwargs):
            asked.append(key)
            return cache.add(key, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(cache, name)

    monkeypatch.setattr(read_log, "cache", Counting())
    check = read_log._check
    monkeypatch.setattr(read_log, "_check", lambda *args: checks.append(args) or check(*args))
    clock = [1_000.0]
    monkeypatch.setattr(read_log.time, "monotonic", lambda: clock[0])

    reader.get(f"{CUSTOMERS}?pageSize=4")  # 4 read: within the limit, nothing asked
    reader.get(f"{CUSTOMERS}?pageSize=4")  # 8: over it, checked (4 different: no alert)
    assert (asked.count(checked), len(checks)) == (1, 1)
    reader.get(f"{CUSTOMERS}?pageSize=4")  # the mark is there: remembered
    for _ in range(3):
        reader.get(f"{CUSTOMERS}?pageSize=4")
    assert (asked.count(checked), len(checks)) == (2, 1)
    clock[0] += read_log.CHECKED_MEMO_SECONDS + 1
    reader.get(f"{CUSTOMERS}?pageSize=4")  # asked again: still marked
    assert (asked.count(checked), len(checks)) == (3, 1)
    cache.delete(checked)  # (the mark's time has passed)
    clock[0] += read_log.CHECKED_MEMO_SECONDS + 1
    reader.get(f"{CUSTOMERS}?pageSize=4")
    assert (asked.count(checked), len(checks)) == (4, 2)
    assert not MassReadAlert.objects.exists()
    # The mark lives CHECK_EVERY_SECONDS; a process may wait CHECKED_MEMO_SECONDS after seeing it.
    assert read_log.CHECK_EVERY_SECONDS + read_log.CHECKED_MEMO_SECONDS <= 60


def test_reading_the_same_customers_again_and_again_raises_none(limited, api_as, tenant):
    from django.core.cache import cache

    from customers.read_log import _CHECKED

    reader = api_as("customer.customer_read")
    checked = _CHECKED.format(tenant=tenant.pk, kind="api_client", id=reader.api_client.client_id)
    for _ in range(5):
        cache.delete(checked)  # (the distinct count asked each time, not once a minute)
        reader.get(f"{CUSTOMERS}?pageSize=4")
    assert not MassReadAlert.objects.exists()


def test_a_tenant_without_a_limit_raises_nothing(limited, api_as, tenant):
    tenant.mass_read_customers = 0
    tenant.save()
    reader = api_as("customer.customer_read")
    reader.get(f"{CUSTOMERS}?pageSize=100")
    assert not MassReadAlert.objects.exists()


def test_a_failed_e_mail_is_tried_again_later(
    limited, administrator, api_as, settings, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from customers import mail as customer_mail

    api_as("customer.customer_read").get(f"{CUSTOMERS}?pageSize=10")  # (e-mail not sent yet)
    alert = MassReadAlert.objects.get()
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    def mail_server_down(**kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(customer_mail, "send_mail", mail_server_down)
    assert customer_mail.send_mass_read_alert.call(alert.pk) == 0
    retry = DBTaskResult.objects.get()
    assert retry.args_kwargs["args"] == [alert.pk]
    assert timezone.now() + timedelta(seconds=50) < retry.run_after
    alert.refresh_from_db()
    assert (alert.notice_attempts, alert.notified_at) == (1, None)
    monkeypatch.undo()
    assert customer_mail.send_mass_read_alert.call(alert.pk) == 1
    alert.refresh_from_db()
    assert alert.notice_attempts == 2 and alert.notified_at is not None
    assert len(mail.outbox) == 1


def test_the_home_page_lists_open_alerts_to_tenant_administrators_until_acknowledged(
    limited, administrator, api_as, client, tenant
):
    api_as("customer.customer_read").get(f"{CUSTOMERS}?pageSize=10")
    alert = MassReadAlert.objects.get()
    client.force_login(administrator)
    home = client.get("/admin/").content.decode()
    assert 'id="mass-reads"' in home and "10 in 10 min" in home
    answer = client.post(
        "/admin/customers/massreadalert/",
        {"action": "acknowledge", "index": "0", "_selected_action": [str(alert.pk)]},
        follow=True,
    )
    assert "Acknowledged 1 alert." in answer.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_by_name == "boss"
    assert 'id="mass-reads"' not in client.get("/admin/").content.decode()
    agent = EmployeeFactory(
        tenant=tenant,
        access_groups=[AccessGroupFactory(tenant=tenant, scopes=["customer.customer_read"])],
    )
    client.force_login(agent)
    assert client.get("/admin/customers/massreadalert/").status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mass_read_customers", "-1"),
        ("mass_read_customers", "1000001"),
        ("mass_read_minutes", "0"),
        ("mass_read_minutes", "1441"),
        ("read_log_days", "29"),
        ("read_log_days", "3651"),
        ("read_log_days", "many"),
    ],
)
def test_alert_settings_out_of_range_are_refused_on_the_tenant_page(
    admin_client, tenant, field, value
):
    from tests.admin.test_admin_identities import tenant_form

    data = {**tenant_form(tenant), field: value}
    page = admin_client.post(f"/admin/tenancy/tenant/{tenant.pk}/change/", data)
    assert page.status_code == 200  # the form again, with the error
    assert field in page.context["adminform"].form.errors
    tenant.refresh_from_db()
    assert (tenant.mass_read_customers, tenant.mass_read_minutes) == (2000, 10)
    assert tenant.read_log_days == 730


def test_the_tenants_limits_are_read_once_a_minute_not_per_request(limited, api_as):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    reader = api_as("customer.customer_read")
    limits = "mass_read_customers"
    with CaptureQueriesContext(connection) as first:
        reader.get(f"{CUSTOMERS}?pageSize=2")
    with CaptureQueriesContext(connection) as second:
        reader.get(f"{CUSTOMERS}?pageSize=2&pageNumber=2")
    assert sum(limits in q["sql"] for q in first.captured_queries) == 1
    assert sum(limits in q["sql"] for q in second.captured_queries) == 0


def test_nobody_acknowledges_an_alert_about_their_own_reading(
    limited, administrator, client, tenant
):
    client.force_login(administrator)
    client.get("/admin/customers/customer/")  # a page of more customers than the limit
    alert = MassReadAlert.objects.get()
    assert alert.actor_id == str(administrator.pk)
    home = client.get("/admin/").content.decode()
    assert "your own: another administrator acknowledges it" in home
    answer = client.post(
        "/admin/customers/massreadalert/",
        {"action": "acknowledge", "index": "0", "_selected_action": [str(alert.pk)]},
        follow=True,
    )
    assert "Acknowledged 0 alerts." in answer.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    colleague = EmployeeFactory(tenant=tenant, access_groups=administrator.access_groups.all())
    client.force_login(colleague)
    client.post(
        "/admin/customers/massreadalert/",
        {"action": "acknowledge", "index": "0", "_selected_action": [str(alert.pk)]},
    )
    alert.refresh_from_db()
    assert alert.acknowledged_by_name == colleague.username
