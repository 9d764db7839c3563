import io

import pytest
from django.contrib.auth.hashers import check_password, make_password

from config import settings as project_settings
from customers.models import Account, Customer, PasswordMigrationRetention, RestrictionChange
from customers.passwords import emporix_hash
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/customer/acme/customers/import"
RETENTION = "/customer/acme/config/password-migration-retention"
HASH = emporix_hash("secret-pass", "salt1234")


def item(email: str, **fields) -> dict:
    """An import item with a login account and an Emporix password hash."""
    return {**fields, "account": {"email": email, "passwordHash": HASH}}


@pytest.fixture
def importer(api_as):
    return api_as(
        "customer.import_manage", "customer.customer_manage", "restriction.restriction_manage"
    )


def test_items_are_independent_and_answered_by_index(tenant, importer):
    CustomerFactory(tenant=tenant, customer_number="TAKEN")
    hashed = make_password("imported-pass")
    response = importer.post(
        URL,
        [
            {
                "id": "I1",
                "firstName": "Ok",
                "restriction": "DE",
                "account": {"email": "I1@example.com", "passwordHash": hashed},
            },
            item("taken@example.com", id="TAKEN"),
            item("bad@example.com", firstName="Bad", shoeSize=3),
            item("jp@example.com", restriction="JP"),
            {"account": {"email": "x@example.com", "passwordHash": "plaintext"}},
        ],
        format="json",
    )
    assert response.status_code == 207
    results = response.json()
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["code"] for r in results] == [201, 409, 400, 400, 400]
    assert results[0] == {"index": 0, "id": "I1", "code": 201, "status": "Created"}
    assert results[1]["status"] == "Conflict"
    assert results[2]["details"][0]["field"] == "shoeSize"
    assert results[3]["details"][0]["field"] == "restriction"
    assert results[4]["details"][0]["field"] == "account.passwordHash"
    assert check_password("imported-pass", Account.objects.get(email="i1@example.com").password)
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {"TAKEN", "I1"}
    assert RestrictionChange.objects.get().channel == "import"


def test_a_de_restricted_importer_cannot_import_fr_customers(tenant, api_as):
    http = api_as(
        "customer.import_manage",
        "customer.customer_manage--DE",
        "restriction.restriction_manage--DE",
    )
    results = http.post(
        URL,
        [
            item("a@example.com", id="A", restriction="FR"),
            item("b@example.com", id="B", restriction="DE"),
            item("c@example.com", id="C"),
        ],
        format="json",
    ).json()
    assert [r["code"] for r in results] == [403, 201, 201]
    assert dict(Customer.objects.values_list("customer_number", "restriction")) == {
        "B": "DE",
        "C": "DE",
    }


def test_more_than_200_items_imports_nothing(tenant, importer):
    response = importer.post(URL, [{"firstName": f"n{i}"} for i in range(201)], format="json")
    assert response.status_code == 400
    assert "200" in response.json()["message"]
    assert not Customer.objects.exists()


def test_body_must_be_an_array(tenant, importer):
    assert importer.post(URL, {"firstName": "x"}, format="json").status_code == 400


def test_import_needs_the_import_scope(tenant, api_as):
    assert api_as("customer.customer_manage").post(URL, [], format="json").status_code == 403


def test_200_items_are_accepted(tenant, importer):
    items = [item(f"n{i}@example.com", firstName=f"n{i}") for i in range(200)]
    response = importer.post(URL, items, format="json")
    assert response.status_code == 207
    assert {r["code"] for r in response.json()} == {201}
    assert Customer.objects.count() == 200


def test_an_emporix_password_hash_is_verified_as_such(tenant, importer):
    response = importer.post(URL, [item("Jo@Example.com", firstName="Jo")], format="json")
    assert response.json()[0]["code"] == 201, response.json()
    account = Account.objects.get()
    assert account.password.startswith("emporix_pbkdf2$1:10000:salt1234:")
    assert check_password("secret-pass", account.password)
    assert not check_password("wrong-pass", account.password)
    # contactEmail omitted: taken from the account
    assert account.customer.contact_email == "jo@example.com"


@pytest.mark.parametrize(
    ("account", "field", "message"),
    [
        ({"email": "a@example.com"}, "account", "exactly one of passwordHash or legacyAuth"),
        (
            {
                "email": "a@example.com",
                "passwordHash": HASH,
                "legacyAuth": {"algorithm": "hybris-sha512-uid-salt", "hash": "abc"},
            },
            "account",
            "exactly one",
        ),
        ({"email": "a@example.com", "passwordHash": "1:10000:salt"}, "account.passwordHash", ""),
        (
            {"email": "a@example.com", "passwordHash": "1:99999999:salt:aWprbG1ub3A="},
            "account.passwordHash",
            "iterations",
        ),
        ({"email": "a@example.com", "passwordHash": "plaintext"}, "account.passwordHash", ""),
        (
            {"email": "a@example.com", "legacyAuth": {"algorithm": "md5", "hash": "abc"}},
            "account.legacyAuth.algorithm",
            "",
        ),
    ],
)
def test_items_without_usable_credentials_are_refused(tenant, importer, account, field, message):
    result = importer.post(URL, [{"firstName": "X", "account": account}], format="json").json()[0]
    assert result["code"] == 400, result
    assert result["details"][0]["field"] == field
    assert message in result["details"][0]["message"]
    assert not Customer.objects.exists()


def test_an_item_needs_an_account_and_a_matching_contact_email(tenant, importer):
    results = importer.post(
        URL,
        [
            {"firstName": "No account"},
            item("jo@example.com", contactEmail="other@example.com"),
            item("jo@example.com", contactEmail="JO@example.com"),
            {"firstName": "P", "password": "x" * 12, "account": {"email": "p@example.com"}},
        ],
        format="json",
    ).json()
    assert [r["code"] for r in results] == [400, 400, 201, 400]
    assert results[0]["details"][0]["field"] == "account"
    assert results[1]["details"][0]["field"] == "contactEmail"
    assert results[3]["details"][0]["field"] == "password"
    assert Customer.objects.get().contact_email == "jo@example.com"


LEGACY = {
    "algorithm": "hybris-sha512-uid-salt",
    "hash": "tBRzNZ+h9FRRm8K1qzDz3aWMgyTlgBihHviEdr+9T82BEODJakLPogHkhkGKF4FGzrhFWMYh6aZ6g5XNN1p"
    "mrg==",
    "context": {"originalUid": "15TE2000007AE9TOUEILLE 61359"},
}


def test_legacy_credentials_need_a_retention_window_and_are_kept_apart(tenant, importer):
    legacy_item = {
        "firstName": "Jane",
        "account": {"email": "jane@example.com", "legacyAuth": LEGACY},
    }
    refused = importer.post(URL, [legacy_item], format="json").json()[0]
    assert refused["code"] == 400
    assert refused["details"][0]["field"] == "account.legacyAuth"

    configured = importer.post(RETENTION, {"retentionEndDate": "2099-01-31"}, format="json")
    assert configured.status_code == 200
    assert configured.json() == {
        "retentionEndDate": "2099-01-31",
        "emailReminderDate": "2099-01-24",
        "emailNotificationsEnabled": True,
    }
    assert importer.post(URL, [legacy_item], format="json").json()[0]["code"] == 201
    account = Account.objects.get()
    assert account.legacy_auth == LEGACY
    assert account.password == ""  # never in the native password field
    assert not check_password(LEGACY["hash"], account.password)

    # Not removable while legacy credentials are stored.
    blocked = importer.delete(RETENTION)
    assert blocked.status_code == 400
    assert PasswordMigrationRetention.objects.exists()
    Account.objects.update(legacy_auth=None)
    assert importer.delete(RETENTION).status_code == 204
    assert importer.get(RETENTION).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"retentionEndDate": "2000-01-01"}, "retentionEndDate"),
        (
            {"retentionEndDate": "2099-01-31", "emailReminderDate": "2099-02-01"},
            "emailReminderDate",
        ),
        (
            {"retentionEndDate": "2099-01-31", "emailReminderDate": "2000-01-01"},
            "emailReminderDate",
        ),
        ({"retentionEndDate": "tomorrow"}, "retentionEndDate"),
        ({}, "retentionEndDate"),
        ({"retentionEndDate": "2099-01-31", "extra": 1}, "extra"),
    ],
)
def test_retention_window_input_is_checked(tenant, importer, body, field):
    response = importer.post(RETENTION, body, format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["field"].startswith(field)
    assert not PasswordMigrationRetention.objects.exists()


def test_retention_window_scopes(tenant, api_as):
    body = {"retentionEndDate": "2099-01-31", "emailNotificationsEnabled": False}
    de_importer = api_as("customer.import_manage--DE", "customer.customer_manage--DE")
    assert de_importer.post(RETENTION, body, format="json").status_code == 403
    everything = api_as("customer.import_manage")
    assert everything.post(RETENTION, body, format="json").status_code == 200
    reader = api_as("customer.import_read")
    assert reader.get(RETENTION).json()["emailNotificationsEnabled"] is False
    assert reader.delete(RETENTION).status_code == 403
    assert api_as("customer.customer_manage").get(RETENTION).status_code == 403


def legacy_account(tenant, email, **fields):
    from tests.factories import AccountFactory

    customer = CustomerFactory(tenant=tenant)
    return AccountFactory(customer=customer, email=email, **fields)


@pytest.mark.parametrize("emails", [True, False])
def test_when_the_window_ends_legacy_credentials_are_cleared(
    tenant, other_tenant, emails, mailoutbox, django_capture_on_commit_callbacks
):
    from datetime import date

    from django.core.management import call_command

    PasswordMigrationRetention.objects.create(
        tenant=tenant,
        retention_end_date=date(2026, 1, 31),
        email_reminder_date=date(2026, 1, 24),
        email_notifications_enabled=emails,
    )
    PasswordMigrationRetention.objects.create(  # still open: untouched
        tenant=other_tenant,
        retention_end_date=date(2099, 1, 31),
        email_reminder_date=date(2099, 1, 24),
    )
    ended = [legacy_account(tenant, f"e{i}@example.com", legacy_auth=LEGACY) for i in range(3)]
    native = legacy_account(tenant, "native@example.com", password="x")
    open_window = legacy_account(other_tenant, "o@example.com", legacy_auth=LEGACY)

    with django_capture_on_commit_callbacks(execute=True):  # the e-mails go once committed
        call_command("expire_password_migrations", stdout=(out := io.StringIO()))

    assert "acme: cleared legacy credentials of 3 accounts" in out.getvalue()
    ended_ids = [account.pk for account in ended]
    assert not Account.objects.filter(pk__in=ended_ids, legacy_auth__isnull=False).exists()
    open_window.refresh_from_db()
    assert open_window.legacy_auth == LEGACY
    native.refresh_from_db()
    assert native.password == "x"
    recipients = sorted(message.to[0] for message in mailoutbox)
    assert recipients == (sorted(account.email for account in ended) if emails else [])
    if emails:
        assert {message.subject for message in mailoutbox} == {"Choose a new password"}
    # A second run finds nothing left to clear.
    call_command("expire_password_migrations", stdout=(again := io.StringIO()))
    assert "cleared=0" in again.getvalue()


# The hashers a deployment runs with (the suite's own settings use a fast one).
PRODUCTION_HASHERS = project_settings.PASSWORD_HASHERS


@pytest.mark.parametrize(
    ("password_hash", "message"),
    [
        ("pbkdf2_sha256$999999999999$salt$aGFzaA==", "iterations must be between"),
        ("pbkdf2_sha256$1$salt$aGFzaA==", "iterations must be between"),
        ("pbkdf2_sha1$1$salt$aGFzaA==", "iterations must be between"),
        ("pbkdf2_sha256$many$salt$aGFzaA==", "not a valid pbkdf2_sha256 hash"),
        ("pbkdf2_sha256$nothing-more", "not a valid pbkdf2_sha256 hash"),
        ("bcrypt_sha256$garbage", "bcrypt_sha256"),
        ("argon2$argon2id$garbage", "argon2"),
        ("md5$salt$5f4dcc3b5aa765d61d8327deb882cf99", "configured password hasher"),
        ("unknown$1$2$3", "configured password hasher"),
        ("emporix_pbkdf2$1:1:salt:aWprbG1ub3A=", "iterations"),
    ],
)
def test_imported_django_hashes_must_be_verifiable_within_cost_bounds(
    tenant, importer, settings, password_hash, message
):
    """A hash nothing here could verify, or verifying which would cost seconds or be cheap to
    crack, is refused for its item (the others are imported)."""
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    good = make_password("imported-pass", hasher="pbkdf2_sha256")
    response = importer.post(
        URL,
        [
            {
                "firstName": "X",
                "account": {"email": "x@example.com", "passwordHash": password_hash},
            },
            {"firstName": "Y", "account": {"email": "y@example.com", "passwordHash": good}},
        ],
        format="json",
    )
    bad, fine = response.json()
    assert bad["code"] == 400, bad
    assert bad["details"][0]["field"] == "account.passwordHash"
    assert message in bad["details"][0]["message"]
    assert fine["code"] == 201
    assert list(Account.objects.values_list("email", flat=True)) == ["y@example.com"]
    assert check_password("imported-pass", Account.objects.get().password)
