"""Every request is bounded: hostile regular expressions, out-of-range numbers, chunked bodies,
slow statements, brute force. Each test names what a client sees."""

import json
import threading
from unittest import mock
from urllib.parse import urlencode

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Employee
from core.database import limit_statement_time
from customers.models import Customer
from customers.passwords import emporix_hash
from tests.conftest import MANAGER, READER
from tests.factories import ApiClientFactory, CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
BASE = "/customer/acme/customers"
ON_POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statement time limits are PostgreSQL's"
)


@pytest.fixture
def reader(api_as, tenant):
    CustomerFactory(tenant=tenant, customer_number="C1", last_name="a" * 30 + "!")
    CustomerFactory(tenant=tenant, customer_number="C2", contact_email="xx@example.com")
    return api_as(*READER)


# -- regular expressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "reason"),
    [
        ("contactEmail:~(.*)(.*)(.*)(.*)(.*)\\5\\4\\3\\2\\1$", "uses a backreference"),
        ("lastName:~^(a+)+$", "nests unbounded quantifiers"),
        ("lastName:~(\\w*\\s?)*!", "nests unbounded quantifiers"),
        ("lastName:~" + "a" * 257, "longer than 256 characters"),
    ],
)
def test_dangerous_regular_expressions_are_refused_before_they_run(reader, q, reason):
    for response in (
        reader.get(BASE, {"q": q}),
        reader.post(f"{BASE}/search", {"q": q}, format="json"),
    ):
        assert response.status_code == 400
        assert reason in response.json()["message"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite REGEXP function")
def test_sqlite_evaluates_regular_expressions_with_a_linear_time_engine(reader):
    from customers import regex

    with mock.patch.object(regex, "_compiled", wraps=regex._compiled) as compiled:
        # Exponential for a backtracking engine on "aaa…a!"; RE2 answers at once.
        response = reader.get(BASE, {"q": "lastName:~^(a|a)*$"})
    assert response.status_code == 200
    assert response.json() == []
    assert compiled.call_args.args == ("^(a|a)*$",)
    assert type(regex._compiled("^(a|a)*$")).__module__.startswith("re2")


# -- numbers, bodies, mixin keys ------------------------------------------------------------


@pytest.fixture
def manager(api_as, tenant):
    CustomerFactory(tenant=tenant, customer_number="C1")
    return api_as(*MANAGER)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_numbers_that_cannot_be_stored_are_a_400(manager, number):
    body = f'{{"mixins": {{"x": {number}}}}}'
    for response in (
        manager.post(BASE, body, content_type="application/json"),
        manager.put(f"{BASE}/C1", body, content_type="application/json"),
        manager.patch(f"{BASE}/C1", body, content_type="application/json"),
    ):
        assert response.status_code == 400, response.content
        assert response.json()["type"] == "validation_failure"
    assert Customer.objects.count() == 1


def test_an_import_item_with_such_a_number_fails_alone(api_as, tenant):
    importer = api_as(*MANAGER, "customer.import_manage")
    hashed = emporix_hash("secret-pass", "salt1234")
    items = [
        {"id": number, "account": {"email": f"{number}@example.com", "passwordHash": hashed}}
        for number in ("OK1", "BAD", "OK2")
    ]
    items[1]["mixins"] = {"x": "HUGE"}
    body = json.dumps(items).replace('"HUGE"', "1e400")  # a number no column can hold
    response = importer.post(f"{BASE}/import", body, content_type="application/json")
    assert response.status_code == 207
    results = response.json()
    assert [item["code"] for item in results] == [201, 400, 201]
    assert results[1]["details"][0]["field"] == "mixins.x"
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {"OK1", "OK2"}


def test_an_unexpected_failure_of_one_import_item_touches_no_other(api_as, tenant):
    importer = api_as(*MANAGER, "customer.import_manage")
    hashed = emporix_hash("secret-pass", "salt1234")
    real_create = __import__("customers.services", fromlist=["x"]).customer_create

    def create(**kwargs):
        if kwargs.get("customer_number") == "BOOM":
            Customer.objects.create(tenant=tenant, customer_number="HALF")  # then it breaks
            raise RuntimeError("a bug")
        return real_create(**kwargs)

    with mock.patch("customers.services.customer_create", side_effect=create):
        response = importer.post(
            f"{BASE}/import",
            [
                {
                    "id": number,
                    "account": {"email": f"{number}@example.com", "passwordHash": hashed},
                }
                for number in ("A", "BOOM", "B")
            ],
            format="json",
        )
    assert [item["code"] for item in response.json()] == [201, 500, 201]
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {"A", "B"}


def test_chunked_bodies_are_refused_with_411(manager):
    response = manager.generic(
        "POST",
        BASE,
        "",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411
    assert response.json()["type"] == "length_required"
    assert Customer.objects.count() == 1


# -- statement time limit (PostgreSQL) ------------------------------------------------------


@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_a_web_process_session_gets_the_statement_time_limit(settings):
    settings.REQUEST_STATEMENT_TIMEOUT_MS = 1234
    connection.ensure_connection()
    with mock.patch("core.database._serving_requests", True):
        limit_statement_time(sender=None, connection=connection)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "1234ms"
        cursor.execute("SET statement_timeout = 0")


@pytest.mark.server_error
@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_a_statement_over_the_limit_is_cancelled_and_answered_503(api_as, tenant):
    CustomerFactory(tenant=tenant, customer_number="C1")
    reader = api_as(*READER)
    db = connection.settings_dict
    locked = threading.Event()
    release = threading.Event()

    def hold_the_table():
        with (
            psycopg.connect(
                host=db["HOST"] or "127.0.0.1",
                port=db["PORT"] or 5432,
                user=db["USER"],
                password=db["PASSWORD"] or None,
                dbname=db["NAME"],
            ) as other,
            other.transaction(),
        ):
            other.execute("LOCK TABLE customers_customer IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_table)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '300ms'")
        response = reader.get(BASE)  # waits for the lock until the server cancels it
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
    assert response.status_code == 503
    assert response.json()["type"] == "service_unavailable"
    assert response["Retry-After"]


# -- brute force --------------------------------------------------------------------------------


def token_request(address="127.0.0.1", **data):
    return APIClient().post(
        "/oauth/token",
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=address,
    )


@override_settings(TOKEN_FAILURE_LIMIT=5)
def test_wrong_client_secrets_lock_the_client_id_from_that_address_with_429(tenant, caplog):
    client = ApiClientFactory(tenant=tenant, secret="right-secret")
    wrong = {"grant_type": "client_credentials", "client_id": client.client_id}
    for _ in range(5):
        assert token_request(**wrong, client_secret="guess").status_code == 401
    refused = token_request(**wrong, client_secret="right-secret")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    body = refused.json()
    assert (body["status"], body["type"]) == (429, "too_many_requests")
    assert "for this client id from your address" in body["message"]
    assert "Token request failed (invalid_client)" in caplog.text
    # The real client, from its own address, is not locked out by someone else's guesses.
    own = token_request("10.0.0.7", **wrong, client_secret="right-secret")
    assert own.status_code == 200


@override_settings(TOKEN_FAILURE_LIMIT=5)
def test_wrong_passwords_lock_the_username_from_that_address_with_429(tenant):
    EmployeeFactory(tenant=tenant, username="ann")
    for _ in range(5):
        response = token_request(grant_type="password", username="ann", password="guess")
        assert response.status_code == 400
    right = {"grant_type": "password", "username": "ann", "password": "correct-horse-battery"}
    assert token_request(**right).status_code == 429
    assert token_request("10.0.0.7", **right).status_code == 200


@override_settings(TOKEN_FAILURE_LIMIT=5)
def test_a_success_clears_the_count_for_that_identity_and_address(tenant):
    client = ApiClientFactory(tenant=tenant, secret="right-secret")
    wrong = {"grant_type": "client_credentials", "client_id": client.client_id}
    for _ in range(4):
        token_request(**wrong, client_secret="guess")
    assert token_request(**wrong, client_secret="right-secret").status_code == 200
    for _ in range(4):
        assert token_request(**wrong, client_secret="guess").status_code == 401


@override_settings(TOKEN_ADDRESS_FAILURE_LIMIT=5)
def test_failures_from_one_address_lock_that_address(tenant):
    for attempt in range(5):
        token_request(grant_type="password", username=f"user{attempt}", password="guess")
    client = ApiClientFactory(tenant=tenant, secret="right-secret")
    right = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": "right-secret",
    }
    response = token_request(**right)
    assert response.status_code == 429
    assert "from your address;" in response.json()["message"]
    assert token_request("10.0.0.7", **right).status_code == 200


@override_settings(TOKEN_FAILURE_LIMIT=5, TOKEN_IDENTITY_FAILURE_LIMIT=8)
def test_guesses_from_many_addresses_meet_the_identity_ceiling(tenant):
    client = ApiClientFactory(tenant=tenant, secret="right-secret")
    wrong = {"grant_type": "client_credentials", "client_id": client.client_id}
    for attempt in range(8):
        assert token_request(f"10.1.0.{attempt % 4}", **wrong, client_secret="g").status_code == 401
    refused = token_request("10.2.0.1", **wrong, client_secret="right-secret")
    assert refused.status_code == 429
    assert "for this client id from any address" in refused.json()["message"]


def test_concurrent_guesses_never_check_more_secrets_than_the_limit(each_cache, settings):
    """40 guesses at once against a limit of 10: exactly 10 get to check a secret."""
    from accounts import throttling

    settings.TOKEN_FAILURE_LIMIT = 10
    limits = throttling.limits_for("203.0.113.5", "client id", "cl_victim")
    start = threading.Barrier(40)
    admitted = []

    def guess():
        start.wait(timeout=10)
        if throttling.reserve(limits) is None:
            admitted.append(1)  # and its check failed: the reservation stays

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(admitted) == 10
    refusal = throttling.reserve(limits)
    assert refusal is not None and refusal.limit.kind == throttling.PAIR
    assert 0 < refusal.retry_after <= settings.TOKEN_FAILURE_WINDOW + 1


@override_settings(AXES_FAILURE_LIMIT=5)
def test_wrong_admin_logins_lock_the_account_with_429(tenant, client):
    EmployeeFactory(tenant=tenant, username="staffer", is_staff=True)
    for _ in range(4):
        page = client.post("/admin/login/", {"username": "staffer", "password": "guess"})
        assert page.status_code == 200  # the login form again, with its error
    fifth = client.post("/admin/login/", {"username": "staffer", "password": "guess"})
    assert fifth.status_code == 429
    locked = client.post(
        "/admin/login/", {"username": "staffer", "password": "correct-horse-battery"}
    )
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "for this username from your address" in locked.content.decode()
    assert not Employee.objects.get(username="staffer").last_login
    # The staffer's own address is not locked by guesses made elsewhere in their name.
    own = client.post(
        "/admin/login/",
        {"username": "staffer", "password": "correct-horse-battery"},
        REMOTE_ADDR="10.0.0.7",
    )
    assert own.status_code == 302
    assert Employee.objects.get(username="staffer").last_login
