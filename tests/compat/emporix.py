"""Emporix's API document (``emporix-customer-service.yml`` beside this file) as data: its
operations with their parameters, request examples and documented status codes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DOCUMENT = Path(__file__).with_name("emporix-customer-service.yml")
METHODS = ("get", "post", "put", "patch", "delete")


@cache
def document() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT.read_text())


def resolve(node: Any) -> Any:
    """``node`` with a top-level ``$ref`` followed (within the document)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    spec: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]

    def url(self, **values: str) -> str:
        return self.path.format(**values)

    def success_codes(self) -> set[int]:
        return {int(code) for code in self.spec["responses"] if str(code).startswith("2")}

    def request_examples(self) -> list[Any]:
        """The documented request bodies (application/json), in document order."""
        content = resolve(self.spec.get("requestBody", {})).get("content", {})
        examples = content.get("application/json", {}).get("examples", {})
        return [resolve(example)["value"] for example in examples.values()]

    def response_example(self, code: int) -> Any | None:
        response = resolve(self.spec["responses"].get(str(code), {}))
        examples = response.get("content", {}).get("application/json", {}).get("examples", {})
        for example in examples.values():
            return resolve(example)["value"]
        return None

    def parameter(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.parameters if p["name"] == name), None)


def operations() -> list[Operation]:
    found = []
    for path, item in document()["paths"].items():
        shared = [resolve(p) for p in item.get("parameters", [])]
        for method in METHODS:
            if method in item:
                spec = item[method]
                own = [resolve(p) for p in spec.get("parameters", [])]
                found.append(
                    Operation(spec["operationId"], method, path, spec, tuple(shared + own))
                )
    return found


def operation(operation_id: str) -> Operation:
    return next(o for o in operations() if o.operation_id == operation_id)


# The document's customer and address (its GET examples), which the tests store first.
CUSTOMER = operation("GET-customer-tenant-retrieve-customer").response_example(200)
ADDRESS = operation("GET-customer-tenant-retrieve-customer-address-by-id").response_example(200)
NUMBER, ADDRESS_ID = CUSTOMER["customerNumber"], ADDRESS["id"]
