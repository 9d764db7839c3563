"""The access-change log speaks staff words: sentences, dates and names, not stored values."""

import pytest

from accounts.admin.wording import describe


def test_a_window_is_one_phrase_with_the_date_again_only_across_midnight():
    same_day = describe(
        {},
        {
            "group": "DE agents",
            "valid_from": "2026-12-05T14:25:15.050407+00:00",
            "valid_until": "2026-12-05T16:25:15+00:00",
            "reason": "cover",
        },
    )
    assert same_day == "from 5 Dec 2026 14:25 until 16:25; group: DE agents; reason: cover"
    overnight = describe(
        {}, {"valid_from": "2026-12-05T22:00:00+00:00", "valid_until": "2026-12-06T02:00:00Z"}
    )
    assert overnight == "from 5 Dec 2026 22:00 until 6 Dec 2026 02:00"


def test_lists_say_what_was_added_and_removed_and_flags_say_yes_or_no():
    assert describe({}, {"scopes": ["audit.audit_read"]}) == "scopes added: audit.audit_read"
    assert (
        describe({"scopes": ["a", "b"]}, {"scopes": ["b", "c"]})
        == "scopes added: c; scopes removed: a"
    )
    assert describe({"is_active": False}, {"is_active": True}) == "active: no → yes"
    assert (
        describe({"max_temporary_access": "P0DT08H00M00S"}, {"max_temporary_access": "P0DT04H"})
        == "longest temporary access: 8 hours → 4 hours"
    )


@pytest.mark.django_db
def test_the_log_page_shows_sentences_and_plain_actor_names(client, tenant):
    from accounts.models import AccessChange
    from tests.factories import EmployeeFactory

    root = EmployeeFactory(tenant=None, is_superuser=True, username="root")
    AccessChange.objects.create(
        tenant=tenant,
        subject_kind="api_client",
        subject_id="cl_x",
        subject_name="shop",
        action="changed",
        before={},
        after={"scopes": ["audit.audit_read"]},
        actor_kind="operator",
        actor_id="operator",
        actor_name="operator",
        channel="command",
    )
    client.force_login(root)
    page = client.get("/admin/accounts/accesschange/").content.decode()
    assert "scopes added: audit.audit_read" in page
    assert "operator (operator)" not in page
    assert "By by (kind)" not in page and "By actor kind" in page
    assert "+00:00" not in page.split('id="result_list"')[1]  # (no stored ISO text)
