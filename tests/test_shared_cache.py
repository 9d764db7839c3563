"""The shared cache (Redis) failing: the service keeps answering, counting in each process's own
memory, says so once in its log and in /metrics, is not ready by /readyz, and goes back to Redis
when it answers again."""

import logging

import pytest
import redis
from django.core.cache import cache
from prometheus_client import REGISTRY

from core import cache as shared_cache
from customers.models import MassReadAlert
from tests.conftest import LOCAL_REDIS, require_redis
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
NOWHERE = "redis://127.0.0.1:1/15"  # (nothing listens on port 1: the connection is refused)


def shared(settings, location: str) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.SharedCache",
            "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            "KEY_PREFIX": "test-shared-cache",
        }
    }
    settings.REDIS_URL = location


def fallbacks() -> float:
    return REGISTRY.get_sample_value("shared_cache_fallbacks_total") or 0


@pytest.fixture
def redis_down(settings):
    shared(settings, NOWHERE)


def test_reads_are_answered_and_mass_reads_still_alerted_while_redis_does_not_answer(
    redis_down, tenant, api_as, caplog
):
    tenant.mass_read_customers = 5
    tenant.save()
    for number in range(8):
        CustomerFactory(tenant=tenant, customer_number=f"R{number}")
    reader = api_as("customer.customer_read")
    before = fallbacks()
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        assert reader.get("/customer/acme/customers/R1").status_code == 200
        page = reader.get("/customer/acme/customers?pageSize=8")
    assert page.status_code == 200 and len(page.json()) == 8
    # Counted in this process's memory: the limit of 5 is crossed, the alert raised.
    assert MassReadAlert.objects.get().customers == 8
    assert fallbacks() > before
    outage = [r for r in caplog.records if "did not answer" in r.getMessage()]
    assert len(outage) == 1, "one warning per outage and retry, not one per operation"


def test_sign_in_throttles_still_count_while_redis_does_not_answer(redis_down, settings):
    from accounts import throttling

    settings.TOKEN_FAILURE_LIMIT = 2
    limit = throttling.Limit(throttling.PAIR, "someone\x0010.0.0.1", "client id")
    assert throttling.reserve([limit]) is None
    assert throttling.reserve([limit]) is None
    refusal = throttling.reserve([limit])
    assert refusal is not None and refusal.retry_after > 0


def test_staff_sign_in_works_while_redis_does_not_answer(redis_down, tenant, client, monkeypatch):
    """The admin's login throttle (django-axes) and the token endpoint's count in the cache."""
    from urllib.parse import urlencode

    from axes.handlers.proxy import AxesProxyHandler
    from rest_framework.test import APIClient

    from tests.factories import EmployeeFactory

    # (django-axes keeps the cache it first met for the process: this test's is made anew,
    # and the other tests' is back afterwards)
    monkeypatch.setattr(AxesProxyHandler, "implementation", None)

    EmployeeFactory(tenant=tenant, username="pat", is_staff=True)
    wrong = client.post("/admin/login/", {"username": "pat", "password": "wrong"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    right = client.post("/admin/login/", {"username": "pat", "password": "correct-horse-battery"})
    assert right.status_code == 302 and "_auth_user_id" in client.session
    token = APIClient().post(
        "/oauth/token",
        urlencode({"grant_type": "password", "username": "pat", "password": "wrong"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert token.status_code in (400, 401) and "error" in token.json()


@pytest.mark.server_error  # (503: what a load balancer reads)
def test_readyz_says_not_ready_while_redis_does_not_answer(redis_down, client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "no answer"


@pytest.fixture
def local_redis(settings):
    require_redis("the outage cases still run")
    shared(settings, LOCAL_REDIS)
    cache.clear()
    yield redis.Redis.from_url(LOCAL_REDIS)
    cache.clear()


def test_redis_is_left_alone_for_a_while_after_a_failure_then_used_again(local_redis, monkeypatch):
    from django.core.cache import caches

    clock = [1_000.0]
    monkeypatch.setattr(shared_cache.time, "monotonic", lambda: clock[0])
    asked = []

    def failing_get(self, key, *args, **kwargs):
        asked.append(key)
        raise redis.ConnectionError("Redis restarting")

    with monkeypatch.context() as restarting:
        restarting.setattr(shared_cache.RedisCache, "get", failing_get)
        assert cache.get("k", "default") == "default"
        cache.set("k", "in local memory")  # Redis not asked: the process waits its retry time
        assert cache.get("k") == "in local memory"
    assert asked == ["k"] and local_redis.keys("*") == []
    clock[0] += shared_cache.RETRY_SECONDS + 1
    cache.set("k", "in Redis")
    assert cache.get("k") == "in Redis"
    assert len(local_redis.keys("*")) == 1
    assert caches["default"].answers()


def test_a_count_is_one_round_trip_to_redis_and_lives_its_time(local_redis):
    assert shared_cache.count("minute", 3, timeout=120) == 3
    assert shared_cache.count("minute", 2, timeout=120) == 5
    (key,) = local_redis.keys("*minute*")
    assert 0 < local_redis.ttl(key) <= 120
