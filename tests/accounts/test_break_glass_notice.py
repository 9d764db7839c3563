"""A break-glass activation is never missed: its e-mail is tried again until sent, and it stays
on the back office's index page for the tenant administrators until one acknowledges it."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts import mail as access_mail
from accounts.models import AccessRequest
from accounts.services.temporary_access import access_request_create, break_glass_acknowledge
from core.channels import Channel
from tests.accounts import test_temporary_access as temporary
from tests.accounts.test_temporary_access import READ, acting
from tests.factories import AccessGroupFactory, EmployeeFactory, themselves

pytestmark = pytest.mark.django_db
admin, second_admin, de_agent = temporary.admin, temporary.second_admin, temporary.de_agent


@pytest.fixture
def activation(tenant, admin, second_admin, de_agent):
    emergency = AccessGroupFactory(
        tenant=tenant, name="incident", scopes=[READ], restrictions=["US"], break_glass=True
    )
    return access_request_create(
        actor=themselves(de_agent),
        channel=Channel.ADMIN,
        group=emergency,
        duration=timedelta(hours=1),
        reason="outage in US",
        break_glass=True,
    )


def test_a_failed_break_glass_mail_is_tried_again_until_sent(activation, settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    def mail_server_down(**kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(access_mail, "send_mail", mail_server_down)
    with pytest.raises(access_mail.MailNotSent):
        access_mail.send_access_request_email.call(activation.pk, "break_glass")
    retry = DBTaskResult.objects.get()
    assert retry.args_kwargs["args"] == [activation.pk, "break_glass"]
    assert timezone.now() + timedelta(seconds=50) < retry.run_after
    assert retry.run_after < timezone.now() + timedelta(minutes=1, seconds=10)
    stored = AccessRequest.objects.get(pk=activation.pk)
    assert (stored.notice_attempts, stored.notified_at) == (1, None)

    monkeypatch.undo()
    access_mail.send_access_request_email.call(activation.pk, "break_glass")
    stored.refresh_from_db()
    assert stored.notice_attempts == 2 and stored.notified_at is not None
    assert len(mail.outbox) == 1 and "BREAK-GLASS" in mail.outbox[0].subject
    assert [access_mail.retry_delay(n).total_seconds() // 60 for n in (1, 2, 3, 7, 12)] == [
        1,
        2,
        4,
        60,
        60,
    ]


def test_the_last_try_schedules_no_other(activation, settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    AccessRequest.objects.filter(pk=activation.pk).update(
        notice_attempts=access_mail.NOTICE_ATTEMPTS - 1
    )
    monkeypatch.setattr(
        access_mail, "send_mail", lambda **kwargs: (_ for _ in ()).throw(TimeoutError("slow"))
    )
    with pytest.raises(access_mail.MailNotSent):
        access_mail.send_access_request_email.call(activation.pk, "break_glass")
    assert not DBTaskResult.objects.exists()


def test_the_index_shows_activations_until_an_administrator_acknowledges(
    activation, admin, second_admin, de_agent, client
):
    EmployeeFactory(tenant=admin.tenant, username="mailless", email="",
                    access_groups=list(admin.access_groups.all()))  # fmt: skip
    client.force_login(admin)
    page = client.get("/admin/").content.decode()
    assert 'id="break-glass"' in page and "outage in US" in page
    assert "no e-mail address: mailless" in page
    # The requester, not an administrator, sees nothing of it on the index.
    client.force_login(de_agent)
    assert 'id="break-glass"' not in client.get("/admin/").content.decode()

    client.force_login(admin)
    response = client.post(
        "/admin/accounts/accessrequest/",
        {"action": "acknowledge", "index": "0", "_selected_action": [activation.pk]},
        follow=True,
    )
    assert "Acknowledged 1 emergency activation." in response.content.decode()
    stored = AccessRequest.objects.get(pk=activation.pk)
    assert stored.acknowledged_by_name == "boss" and stored.acknowledged_at is not None
    client.force_login(second_admin)
    assert 'id="break-glass"' not in client.get("/admin/").content.decode()


def test_nobody_acknowledges_their_own_activation(tenant, admin, second_admin):
    emergency = AccessGroupFactory(tenant=tenant, scopes=[READ], break_glass=True)
    own = access_request_create(
        actor=themselves(admin),
        channel=Channel.ADMIN,
        group=emergency,
        duration=timedelta(hours=1),
        reason="night shift",
        break_glass=True,
    )
    assert break_glass_acknowledge(actor=acting(admin), request_pks=[own.pk]) == 0
    assert break_glass_acknowledge(actor=acting(second_admin), request_pks=[own.pk]) == 1
