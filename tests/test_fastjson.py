"""orjson where it answers as the standard library does (core/fastjson.py): the renderer's bytes
are DRF's for every value, and a JSON column reads as Django's field reads it."""

import datetime
import decimal
import json
import uuid

from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer

from core import fastjson


def json_values(scalars):
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )


exact = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text()
floats = st.floats(allow_nan=False, allow_infinity=False)
documents = json_values(exact | floats)


def both(data, media_type=None) -> tuple[bytes, bytes]:
    return (
        fastjson.JSONRenderer().render(data, media_type, {}),
        DrfJSONRenderer().render(data, media_type, {}),
    )


@settings(max_examples=300, deadline=None)
@given(json_values(exact))
def test_the_renderer_writes_drfs_bytes_for_any_json_value_without_floats(data):
    ours, drfs = both(data)
    assert ours == drfs


@settings(max_examples=300, deadline=None)
@given(documents)
def test_the_renderer_writes_the_values_drf_writes_floats_included(data):
    ours, drfs = both(data)
    assert (json.loads(ours) == json.loads(drfs)) if data is not None else ours == drfs == b""


def test_a_float_may_be_spelled_otherwise_but_is_the_same_number():
    ours, drfs = both({"small": 1e-7, "tiny": 0.00001, "plain": 2.5})
    assert ours == b'{"small":1e-7,"tiny":0.00001,"plain":2.5}'
    assert drfs == b'{"small":1e-07,"tiny":1e-05,"plain":2.5}'
    assert json.loads(ours) == json.loads(drfs)


def test_values_orjson_would_write_otherwise_are_written_as_drf_writes_them():
    moment = datetime.datetime(2026, 12, 6, 17, 5, 3, 123456, tzinfo=datetime.UTC)
    data = {
        "moment": moment,  # DRF's encoder: a Z for UTC
        "day": moment.date(),
        "time": datetime.time(17, 5, 3, 120000),
        "amount": decimal.Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": gettext_lazy("Customer"),
        "separators": "a\u2028b\u2029c",  # escaped: a JavaScript-safe subset
        "text": "Grüße, 東京",
    }
    ours, drfs = both(data)
    assert ours == drfs
    assert b'"2026-12-06T17:05:03.123456Z"' in ours and b"a\\u2028b\\u2029c" in ours
    # What orjson refuses, DRF writes: an integer beyond 64 bits, keys that are not strings.
    for refused in ({"wide": 2**80}, {"keys": {1: "one", None: "none"}}):
        assert both(refused)[0] == both(refused)[1]
    indented = "application/json; indent=4"
    assert both(data, indented)[0] == both(data, indented)[1]
    assert fastjson.JSONRenderer().render(None) == b""


@settings(max_examples=300, deadline=None)
@given(documents)
def test_a_json_column_reads_as_djangos_field_reads_it(data):
    text = json.dumps(data)  # (integers beyond 64 bits included: orjson would make them floats)
    assert fastjson.loads(text) == json.loads(text)
    field = fastjson.JSONField()
    assert field.from_db_value(text, None, None) == json.loads(text)
    assert field.from_db_value(None, None, None) is None
    assert field.from_db_value("not json", None, None) == "not json"


def test_the_customer_and_address_json_columns_read_back_what_was_written(db, tenant):
    """Through the database and back: the fields read with orjson, and to migrations they
    are Django's own field (nothing to migrate)."""
    from customers.models import Address, Customer
    from tests.factories import AddressFactory, CustomerFactory

    mixins = {"big": 2**70, "small": 1e-7, "text": "Grüße", "nested": [1, {"a": None}]}
    customer = CustomerFactory(tenant=tenant, mixins=mixins, b2b_legal_entities=[{"id": 7}])
    AddressFactory(customer=customer, tags=["billing"], mixins=mixins)
    stored = Customer.objects.get(pk=customer.pk)
    assert stored.mixins == mixins and stored.b2b_legal_entities == [{"id": 7}]
    assert Address.objects.get(customer=customer).mixins == mixins
    for model, name in [(Customer, "mixins"), (Customer, "b2b_legal_entities"), (Address, "tags")]:
        field = model._meta.get_field(name)
        assert isinstance(field, fastjson.JSONField)
        assert field.deconstruct()[1] == "django.db.models.JSONField"
