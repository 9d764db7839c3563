"""The Emporix query language (``q``) compiled to Django ``Q`` objects.

A hand-written scanner and recursive-descent parser: the grammar is small, and owning it gives
exact error positions and no dependency. Grammar (terms are ANDed)::

    query    := term (SPACE+ term)*
    term     := FIELD ":" value
    value    := "(" group ")" | single
    group    := "~" REGEX                      (everything up to the balancing ")")
              | single ("," single)*           (one of)
              | single ("AND" single)+         (all of: ranges)
    single   := "~" REGEX | OP? literal        OP := ">=" | "<=" | ">" | "<"
    literal  := '"' chars '"' | bare

Every error is a :class:`QuerySyntaxError` naming the position or the term: a 400, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, CharField, F, Func, JSONField, Q, Value
from django.db.models.fields.json import (
    HasKey,
    KeyTransform,
    KeyTransformExact,
    KeyTransformGt,
    KeyTransformGte,
    KeyTransformIsNull,
    KeyTransformLt,
    KeyTransformLte,
    compile_json_path,
)
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime

from customers.querysets import with_account
from customers.regex import UnsafeRegex, check_regex

CharField.register_lookup(Lower)  # enables `field__lower` (EmailField is a CharField)

MAX_QUERY_LENGTH = 5000
MAX_TERMS = 50
MAX_SORT_FIELDS = 5

_FIELD_CHARS = re.compile(r"[A-Za-z0-9_.]")
_MIXIN_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*\Z")
_OPERATORS = (">=", "<=", ">", "<")
_LOOKUP_FOR_OPERATOR = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
# Numbers inside mixins compare as numbers (jsonb on PostgreSQL, JSON_EXTRACT on SQLite).
_MIXIN_COMPARISONS = {
    ">=": KeyTransformGte,
    "<=": KeyTransformLte,
    ">": KeyTransformGt,
    "<": KeyTransformLt,
}


class QuerySyntaxError(ValueError):
    def __init__(self, message: str, position: int | None = None, *, hint: str = ""):
        if position is not None:
            message = f"{message} (at position {position})"
        if hint:
            message = f"{message}; {hint}"
        super().__init__(message)


@dataclass(frozen=True)
class FieldSpec:
    lookup: str
    kind: str  # "text", "text_ci", "bool", "int", "datetime", "login", "business_model"
    nullable: bool = True


FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("customer_number", "text", nullable=False),
    "customerNumber": FieldSpec("customer_number", "text", nullable=False),
    "title": FieldSpec("title", "text"),
    "firstName": FieldSpec("first_name", "text"),
    "middleName": FieldSpec("middle_name", "text"),
    "lastName": FieldSpec("last_name", "text"),
    "contactEmail": FieldSpec("contact_email", "text_ci"),
    "contactPhone": FieldSpec("contact_phone", "text"),
    "company": FieldSpec("company", "text"),
    "preferredSite": FieldSpec("preferred_site", "text", nullable=False),
    "preferredLanguage": FieldSpec("preferred_language", "text", nullable=False),
    "preferredCurrency": FieldSpec("preferred_currency", "text", nullable=False),
    "type": FieldSpec("type", "text", nullable=False),
    "photoUrl": FieldSpec("photo_url", "text"),
    # The login e-mail: matches a customer with an account whose e-mail matches.
    "email": FieldSpec("email", "login"),
    "businessModel": FieldSpec("business_model", "business_model", nullable=False),
    "active": FieldSpec("active", "bool", nullable=False),
    "onHold": FieldSpec("on_hold", "bool", nullable=False),
    "restriction": FieldSpec("restriction", "text"),
    "b2b.companyRegistrationId": FieldSpec("b2b_company_registration_id", "text"),
    "metadataCreatedAt": FieldSpec("created_at", "datetime", nullable=False),
    "metadata.createdAt": FieldSpec("created_at", "datetime", nullable=False),
    "metadata.modifiedAt": FieldSpec("modified_at", "datetime", nullable=False),
    "metadata.version": FieldSpec("version", "int", nullable=False),
}


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool
    position: int


@dataclass(frozen=True)
class Condition:
    operator: str  # "=", ">=", "<=", ">", "<", "~"
    value: Literal


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def field(self) -> tuple[str, int]:
        start = self.pos
        while not self.at_end() and _FIELD_CHARS.match(self.text[self.pos]):
            self.pos += 1
        name = self.text[start : self.pos]
        if not name:
            raise QuerySyntaxError("Expected a field name", start)
        if self.peek() != ":":
            raise QuerySyntaxError(
                f"Expected ':' after field {name!r}",
                self.pos,
                hint=f"every term is field:value, for example lastName:{name} or "
                f"lastName:~{name} (a regular expression)",
            )
        self.pos += 1
        return name, start

    def quoted(self) -> Literal:
        start = self.pos
        self.pos += 1  # opening quote
        chars = []
        while True:
            if self.at_end():
                raise QuerySyntaxError("Unterminated quoted value", start)
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return Literal("".join(chars), True, start)
            chars.append(char)

    def bare(self, stops: str, *, regex: bool = False) -> Literal:
        start = self.pos
        while not self.at_end() and not self.text[self.pos].isspace():
            if self.text[self.pos] in stops:
                break
            if not regex and self.text[self.pos] in "()":
                # A parenthesis outside a group or a regular expression opens or closes
                # nothing: the query is unbalanced (a value containing one is quoted).
                raise QuerySyntaxError("Unbalanced parentheses", self.pos)
            self.pos += 1
        text = self.text[start : self.pos]
        if not text:
            raise QuerySyntaxError("Expected a value", start)
        return Literal(text, False, start)

    def literal(self, stops: str) -> Literal:
        return self.quoted() if self.peek() == '"' else self.bare(stops)

    def condition(self, stops: str) -> Condition:
        for operator in _OPERATORS:
            if self.text.startswith(operator, self.pos):
                self.pos += len(operator)
                return Condition(operator, self.literal(stops))
        return Condition("=", self.literal(stops))

    def regex_in_group(self) -> Literal:
        """``~`` inside parentheses: up to the ``)`` that balances the group."""
        start = self.pos
        depth = 0
        while not self.at_end():
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    return Literal(self.text[start : self.pos], False, start)
                depth -= 1
            self.pos += 1
        raise QuerySyntaxError("Unbalanced parentheses", start - 2)

    def keyword_and(self) -> bool:
        save = self.pos
        self.skip_spaces()
        if self.text.startswith("AND", self.pos) and (
            self.pos + 3 < len(self.text) and self.text[self.pos + 3].isspace()
        ):
            self.pos += 3
            self.skip_spaces()
            return True
        self.pos = save
        return False

    def value(self) -> tuple[str, list[Condition]]:
        """Returns ("any" | "all", conditions)."""
        if self.peek() != "(":
            if self.peek() == "~":
                self.pos += 1
                return "all", [Condition("~", self.bare("", regex=True))]
            return "all", [self.condition("")]
        open_at = self.pos
        self.pos += 1
        self.skip_spaces()
        if self.peek() == "~":
            self.pos += 1
            conditions, mode = [Condition("~", self.regex_in_group())], "all"
        else:
            conditions = [self.condition(",)")]
            mode = "any"
            while True:
                self.skip_spaces()
                if self.peek() == ",":
                    if mode == "all" and len(conditions) > 1:
                        raise QuerySyntaxError("Cannot mix ',' and 'AND' in one group", self.pos)
                    self.pos += 1
                    self.skip_spaces()
                    conditions.append(self.condition(",)"))
                elif self.keyword_and():
                    if len(conditions) > 1 and mode == "any":
                        raise QuerySyntaxError("Cannot mix ',' and 'AND' in one group", self.pos)
                    mode = "all"
                    conditions.append(self.condition(",)"))
                else:
                    break
        self.skip_spaces()
        if self.peek() != ")":
            raise QuerySyntaxError("Unbalanced parentheses: expected ')'", open_at)
        self.pos += 1
        if not self.at_end() and not self.peek().isspace():
            raise QuerySyntaxError("Expected a space after ')'", self.pos)
        return mode, conditions


def compile_query(text: str) -> Q:
    """Parse ``q`` and return the ``Q`` filter (visibility is applied separately)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"The query is longer than {MAX_QUERY_LENGTH} characters")
    if "\x00" in text:
        raise QuerySyntaxError("The query contains a NUL character", text.index("\x00"))
    scanner = _Scanner(text)
    result = Q()
    terms = 0
    scanner.skip_spaces()
    while not scanner.at_end():
        terms += 1
        if terms > MAX_TERMS:
            raise QuerySyntaxError(f"The query has more than {MAX_TERMS} terms")
        name, position = scanner.field()
        if scanner.at_end() or scanner.peek().isspace():
            raise QuerySyntaxError(f"Expected a value for {name!r}", scanner.pos)
        mode, conditions = scanner.value()
        result &= _term(name, position, mode, conditions)
        if not scanner.at_end() and not scanner.peek().isspace():
            raise QuerySyntaxError("Expected a space between terms", scanner.pos)
        scanner.skip_spaces()
    return result


def _term(name: str, position: int, mode: str, conditions: list[Condition]) -> Q:
    if name.startswith("mixins."):
        return _mixin_term(name, position, mode, conditions)
    spec = FIELDS.get(name)
    if spec is None:
        raise QuerySyntaxError(
            f"Unknown field {name!r}",
            position,
            hint=f"the fields are {', '.join(FIELDS)} and mixins.<path>",
        )
    combined = Q() if mode == "all" else Q(pk__in=[])
    for condition in conditions:
        q = _condition(name, spec, condition)
        combined = combined & q if mode == "all" else combined | q
    return combined


def _condition(name: str, spec: FieldSpec, condition: Condition) -> Q:
    if spec.kind == "login":
        return _login_condition(name, condition)
    if spec.kind == "business_model":
        return _business_model_condition(name, condition)
    literal = condition.value
    if condition.operator == "~":
        if spec.kind not in {"text", "text_ci"}:
            raise QuerySyntaxError(
                f"Regular expressions apply to text fields, not {name!r}", literal.position
            )
        pattern = literal.text
        try:
            check_regex(pattern)
        except UnsafeRegex as exc:
            raise QuerySyntaxError(
                f"The regular expression for {name!r} {exc}", literal.position
            ) from exc
        # (customers.lookups: the trigram indexes serve these under row-level security too)
        lookup = "indexed_iregex" if spec.kind == "text_ci" else "indexed_regex"
        return Q(**{f"{spec.lookup}__{lookup}": pattern})

    if not literal.quoted and literal.text == "null":
        if condition.operator != "=":
            raise QuerySyntaxError(f"'null' cannot be compared in {name!r}", literal.position)
        if not spec.nullable:
            return Q(pk__in=[])
        return Q(**{f"{spec.lookup}__isnull": True}) | Q(**{spec.lookup: ""})

    if not literal.quoted and literal.text in {"exists", "missing"}:
        if condition.operator != "=":
            raise QuerySyntaxError(f"{literal.text!r} cannot be compared", literal.position)
        empty = (
            Q(**{f"{spec.lookup}__isnull": True}) | Q(**{spec.lookup: ""})
            if spec.nullable
            else Q(pk__in=[])
        )
        return ~empty if literal.text == "exists" else empty

    value = _typed(name, spec, literal)
    if condition.operator == "=":
        if spec.kind == "text_ci":
            # LOWER(column) = lower(value): matches the (tenant, LOWER(contact_email)) index.
            return Q(**{f"{spec.lookup}__lower__exact": value.lower()})
        return Q(**{f"{spec.lookup}__exact": value})
    if spec.kind not in {"int", "datetime"}:
        raise QuerySyntaxError(
            f"Comparison operators apply to numbers and dates, not {name!r}", literal.position
        )
    return Q(**{f"{spec.lookup}__{_LOOKUP_FOR_OPERATOR[condition.operator]}": value})


def _is_keyword(literal: Literal, *keywords: str) -> bool:
    return not literal.quoted and literal.text in keywords


def _login_condition(name: str, condition: Condition) -> Q:
    """``email``: the customer has a login account whose e-mail matches (e-mails are stored
    lower-case); ``exists`` any account, ``missing``/``null`` none."""
    literal = condition.value
    if _is_keyword(literal, "exists", "missing", "null"):
        if condition.operator != "=":
            raise QuerySyntaxError(f"{literal.text!r} cannot be compared", literal.position)
        any_account = with_account(Q())
        return any_account if literal.text == "exists" else ~any_account
    return with_account(_condition(name, FieldSpec("email", "text_ci"), condition))


def _business_model_condition(name: str, condition: Condition) -> Q:
    """``businessModel``: B2B with a company registration or a legal entity, else B2C."""
    literal = condition.value
    if condition.operator != "=":
        raise QuerySyntaxError(f"{name!r} takes B2B or B2C", literal.position)
    if _is_keyword(literal, "exists"):
        return Q()
    if _is_keyword(literal, "missing", "null"):
        return Q(pk__in=[])
    if literal.text not in {"B2B", "B2C"}:
        raise QuerySyntaxError(f"{name!r} takes B2B or B2C, not {literal.text!r}", literal.position)
    b2b = Q(b2b_company_registration_id__gt="") | ~Q(b2b_legal_entities=[])
    return b2b if literal.text == "B2B" else ~b2b


def _typed(name: str, spec: FieldSpec, literal: Literal):
    text = literal.text
    if spec.kind == "bool":
        if text not in {"true", "false"}:
            raise QuerySyntaxError(f"{name!r} takes true or false, not {text!r}", literal.position)
        return text == "true"
    if spec.kind == "int":
        if not re.fullmatch(r"-?\d{1,18}", text):
            raise QuerySyntaxError(f"{name!r} takes a whole number, not {text!r}", literal.position)
        return int(text)
    if spec.kind == "datetime":
        parsed: datetime | None = None
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise QuerySyntaxError(
                f'{name!r} takes a date-time with a time zone such as "2026-01-01T00:00:00Z", '
                f"not {text!r}",
                literal.position,
            )
        return parsed
    return text


def _mixin_term(name: str, position: int, mode: str, conditions: list[Condition]) -> Q:
    path = name.removeprefix("mixins.")
    if not _MIXIN_PATH.match(path):
        raise QuerySyntaxError(f"Invalid mixin path {name!r}", position)
    # Keys become JSON key transforms one by one, never a "__" path: a key named "isnull",
    # "regex" or "exact" is just a key, not a Django lookup.
    *parents, last = path.split(".")
    parent: KeyTransform | F = F("mixins")
    for key in parents:
        parent = KeyTransform(key, parent)
    combined = Q() if mode == "all" else Q(pk__in=[])
    for condition in conditions:
        literal = condition.value
        if condition.operator == "=" and _is_keyword(literal, "exists", "missing", "null"):
            q = Q(HasKey(parent, last))
            if literal.text != "exists":
                # Also missing when the parent object itself is absent (its HasKey is NULL).
                q = ~q if not parents else ~q | Q(KeyTransformIsNull(parent, True))
            if literal.text == "null":  # missing, or present with the JSON value null
                q |= Q(IsJSONNull(KeyTransform(last, parent)))
        elif condition.operator == "=":
            json_value = _json_literal(literal)
            value = Value(json_value, output_field=JSONField())
            q = Q(KeyTransformExact(KeyTransform(last, parent), value))
            if json_value == "null":  # the string, never the JSON null
                q &= ~Q(IsJSONNull(KeyTransform(last, parent)))
        else:
            number = _json_literal(literal)
            if literal.quoted or isinstance(number, bool) or not isinstance(number, int):
                raise QuerySyntaxError(
                    f"Comparison operators on {name!r} take a whole number", literal.position
                )
            compare = _MIXIN_COMPARISONS[condition.operator]
            q = Q(compare(KeyTransform(last, parent), Value(number, output_field=JSONField())))
        combined = combined & q if mode == "all" else combined | q
    return combined


class IsJSONNull(Func):
    """True where a key (a ``KeyTransform``) holds the JSON value null; not where it is
    missing. (Django's SQLite lookups cannot tell JSON null from the string "null".)"""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        lhs, params, keys = self.source_expressions[0].preprocess_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"jsonb_typeof({lhs} #> %s) = 'null'", (*params, keys)
        return f"JSON_TYPE({lhs}, %s) = 'null'", (*params, compile_json_path(keys))


def _json_literal(literal: Literal):
    if literal.quoted:
        return literal.text
    if literal.text in {"true", "false"}:
        return literal.text == "true"
    if re.fullmatch(r"-?\d{1,15}", literal.text):
        return int(literal.text)
    return literal.text


SORT_FIELDS: dict[str, str] = {
    name: spec.lookup
    for name, spec in FIELDS.items()
    if spec.kind not in {"login", "business_model"}  # not columns of the customer
}


def compile_sort(text: str) -> list[str]:
    """``field``, ``field:asc``, ``field:desc``, comma-separated; ends with the primary key."""
    order: list[str] = []
    for part in (item.strip() for item in text.split(",")):
        if not part:
            continue
        name, _, direction = part.partition(":")
        direction = direction.lower()  # the Emporix guides write DESC
        lookup = SORT_FIELDS.get(name)
        if lookup is None:
            raise QuerySyntaxError(
                f"Unknown sort field {name!r}", hint=f"the sort fields are {', '.join(SORT_FIELDS)}"
            )
        if direction not in {"", "asc", "desc"}:
            raise QuerySyntaxError(f"Unknown sort direction {direction!r} for {name!r}")
        order.append(f"-{lookup}" if direction == "desc" else lookup)
        if len(order) > MAX_SORT_FIELDS:
            raise QuerySyntaxError(f"At most {MAX_SORT_FIELDS} sort fields")
    order.append("pk")
    return order
