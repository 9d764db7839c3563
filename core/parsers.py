"""JSON request bodies, parsed strictly: what cannot be stored is a 400, never a 500 later."""

import codecs
import json
import math

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as infinity; JSON columns cannot store it
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


class OutOfRange(str):
    """A number too large to store (``1e400``), kept as its text by :class:`ItemsJSONParser`
    so that only the item holding it fails."""


def _marked_float(text: str) -> float | OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else OutOfRange(text)


def out_of_range_path(data, path: str = "") -> str | None:
    """Where in ``data`` an :class:`OutOfRange` number is, or None."""
    if isinstance(data, OutOfRange):
        return path or "body"
    if isinstance(data, dict):
        items = ((f"{path}.{key}" if path else str(key), value) for key, value in data.items())
    elif isinstance(data, list):
        items = ((f"{path}[{index}]", value) for index, value in enumerate(data))
    else:
        return None
    for item_path, value in items:
        found = out_of_range_path(value, item_path)
        if found:
            return found
    return None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing non-finite numbers (``1e400``, ``NaN``, ``Infinity``) and
    pathological nesting with a 400."""

    parse_float = staticmethod(_finite_float)

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            decoded = codecs.getreader(encoding)(stream)
            return json.load(decoded, parse_float=self.parse_float, parse_constant=_no_constant)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        except ValueError as exc:  # JSONDecodeError, bad encoding, out-of-range numbers
            raise ParseError(f"JSON parse error - {exc}") from exc


class ItemsJSONParser(JSONParser):
    """For bodies of independent items (the import): an out-of-range number fails only its own
    item; see :func:`out_of_range_path`."""

    parse_float = staticmethod(_marked_float)


class MergePatchParser(JSONParser):
    media_type = "application/merge-patch+json"
