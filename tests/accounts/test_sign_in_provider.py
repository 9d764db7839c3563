"""Staff sign-in through the tenant's identity provider, end to end against a real OpenID
Connect provider (oidc-provider, tools/oidc-provider/) over real HTTP: the provider's groups
set the mapped access groups, and everything that goes wrong refuses the sign-in and changes
nothing."""

import pytest
import requests

from accounts.models import AccessChange, Employee, ProviderGroup, SignInProvider
from tests.factories import AccessGroupFactory, EmployeeFactory
from tests.identity_provider import identity_provider, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def provider_process(live_server, tmp_path_factory):
    callbacks = [f"{live_server.url}/sso/acme/callback"]
    with identity_provider(tmp_path_factory.mktemp("idp"), callbacks) as running:
        yield running


@pytest.fixture
def configured(tenant, provider_process):
    """acme signs in through the test provider; its "Sales DE" group maps to DE readers."""
    readers = AccessGroupFactory(
        tenant=tenant, name="de-readers", scopes=["customer.customer_read"], restrictions=["DE"]
    )
    ProviderGroup.objects.create(tenant=tenant, name="Sales DE", access_group=readers)
    provider = SignInProvider.objects.create(
        tenant=tenant,
        name="Test IdP",
        issuer=provider_process.issuer,
        client_id=provider_process.client_id,
        client_secret=provider_process.client_secret,
    )
    return provider, readers


def start_url(live_server):
    return f"{live_server.url}/sso/acme/start"


def test_a_known_employee_signs_in_and_gets_the_mapped_groups(live_server, configured):
    provider, readers = configured
    kept = AccessGroupFactory(tenant=provider.tenant, name="set-by-an-admin", scopes=[])
    anna = EmployeeFactory(tenant=provider.tenant, username="anna", access_groups=[kept])
    browser = requests.Session()
    answer = sign_in(browser, start_url(live_server), "anna")
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/admin/"
    assert browser.get(f"{live_server.url}/admin/", timeout=10).status_code == 200
    assert set(anna.access_groups.all()) == {readers, kept}  # (unmapped groups left alone)
    anna.refresh_from_db()
    assert (anna.first_name, anna.last_name, anna.email) == ("Anna", "Berg", "anna@acme.example")
    added = AccessChange.objects.get(subject_id=str(anna.pk), action="group_added")
    assert added.channel == "sso" and added.after == {"group": "de-readers"}
    assert added.actor_kind == "operator"


def test_leaving_the_providers_group_removes_the_mapped_access(live_server, configured):
    provider, readers = configured
    other = AccessGroupFactory(tenant=provider.tenant, name="fr-readers", scopes=[])
    ProviderGroup.objects.create(tenant=provider.tenant, name="Sales FR", access_group=other)
    anna = EmployeeFactory(tenant=provider.tenant, username="anna", access_groups=[other])
    assert sign_in(requests.Session(), start_url(live_server), "anna").status_code == 302
    assert set(anna.access_groups.all()) == {readers}
    assert AccessChange.objects.filter(
        subject_id=str(anna.pk), action="group_removed", channel="sso"
    ).exists()


def test_the_callback_is_used_once(live_server, configured):
    provider, _ = configured
    EmployeeFactory(tenant=provider.tenant, username="anna")
    browser = requests.Session()
    answer = browser.get(start_url(live_server), allow_redirects=False, timeout=10)
    # Walk to the provider's answer without handing it to the service, then hand it twice.
    callback = None
    for _ in range(10):
        location = requests.compat.urljoin(answer.url, answer.headers["Location"])
        if "/sso/acme/callback" in location:
            callback = location
            break
        answer = browser.get(location, allow_redirects=False, timeout=10)
        if answer.status_code == 200:
            answer = browser.post(
                answer.url,
                data={"prompt": "login", "login": "anna", "password": "x"},
                allow_redirects=False,
                timeout=10,
            )
    assert callback is not None
    first = browser.get(callback, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    replay = browser.get(callback, allow_redirects=False, timeout=10)
    assert replay.status_code == 400
    assert "already used" in replay.text
    # And from another browser (someone who stole the URL): the state is not theirs.
    stranger = requests.get(callback, allow_redirects=False, timeout=10)
    assert stranger.status_code == 400 and "another browser session" in stranger.text


def test_someone_unknown_here_is_refused_unless_the_tenant_creates_employees(
    live_server, configured
):
    provider, readers = configured
    refused = sign_in(requests.Session(), start_url(live_server), "newbie")
    assert refused.status_code == 400
    assert "not an employee" in refused.text
    assert not Employee.objects.filter(username="newbie").exists()

    provider.create_employees = True
    provider.save()
    created = sign_in(requests.Session(), start_url(live_server), "newbie")
    assert created.status_code == 302
    newbie = Employee.objects.get(username="newbie")
    assert newbie.tenant == provider.tenant and newbie.is_staff and not newbie.is_superuser
    assert not newbie.has_usable_password()
    assert list(newbie.access_groups.all()) == [readers]
    assert AccessChange.objects.filter(
        subject_id=str(newbie.pk), action="created", channel="sso"
    ).exists()


def test_a_groups_claim_that_is_not_a_list_changes_nothing(live_server, configured):
    provider, _ = configured
    odd = EmployeeFactory(tenant=provider.tenant, username="oddgroups", email="")
    answer = sign_in(requests.Session(), start_url(live_server), "oddgroups")
    assert answer.status_code == 400
    assert "not a list of group names" in answer.text
    assert not odd.access_groups.exists()
    odd.refresh_from_db()
    assert odd.email == ""


def test_no_groups_claim_means_no_mapped_groups(live_server, configured):
    provider, readers = configured
    person = EmployeeFactory(tenant=provider.tenant, username="nogroups", access_groups=[readers])
    assert sign_in(requests.Session(), start_url(live_server), "nogroups").status_code == 302
    assert not person.access_groups.exists()


def test_a_deactivated_employee_is_refused(live_server, configured):
    provider, _ = configured
    EmployeeFactory(tenant=provider.tenant, username="anna", is_active=False)
    answer = sign_in(requests.Session(), start_url(live_server), "anna")
    assert answer.status_code == 400 and "deactivated" in answer.text


@pytest.mark.server_error  # (502: the provider is not what it says; answered on purpose)
def test_an_issuer_the_discovery_document_does_not_name_is_refused(live_server, configured):
    provider, _ = configured
    provider.issuer = provider.issuer.replace("127.0.0.1", "localhost")
    provider.save()
    answer = requests.get(start_url(live_server), allow_redirects=False, timeout=10)
    assert answer.status_code == 502
    assert "another issuer" in answer.text


@pytest.mark.server_error  # (502: the provider is down; answered on purpose)
def test_a_provider_that_is_down_fails_the_sign_in_and_not_the_password(
    live_server, configured, client
):
    provider, _ = configured
    provider.issuer = "http://127.0.0.1:9"  # (discard: nothing listens)
    provider.save()
    answer = requests.get(start_url(live_server), allow_redirects=False, timeout=30)
    assert answer.status_code == 502
    assert "could not be reached" in answer.text
    assert "username and password is not affected" in answer.text
    EmployeeFactory(tenant=provider.tenant, username="pat")
    signed = client.post(
        "/admin/login/?next=/admin/", {"username": "pat", "password": "correct-horse-battery"}
    )
    assert signed.status_code == 302
