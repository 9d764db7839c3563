"""Regular expressions sent by clients (``q`` terms such as ``lastName:~^Sm``), checked before
any database runs them, and evaluated in linear time on SQLite.

PostgreSQL's engine and Python's both backtrack: a backreference or a quantifier nested inside
an unbounded quantifier (``(a+)+$``, ``(.*)(.*)\\2\\1``) can take exponential time on a short
input. Such patterns are refused with a 400 before they run; everything else is bounded by the
request's statement time limit on PostgreSQL and by RE2, a linear-time engine, on SQLite.
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _constants as sre  # CPython's own regex parser: the syntax Python accepts
from re import _parser

import re2

MAX_REGEX_LENGTH = 256
# A repeat allowing more than this many iterations counts as unbounded.
UNBOUNDED = 255

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}
_BACKREFERENCES = {sre.GROUPREF, sre.GROUPREF_EXISTS, sre.GROUPREF_IGNORE}


class UnsafeRegex(ValueError):
    """Why a pattern is not run (completes "The regular expression …")."""


def check_regex(pattern: str) -> None:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise UnsafeRegex(f"is longer than {MAX_REGEX_LENGTH} characters")
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafeRegex(f"is invalid: {exc}") from exc
    _check(parsed, inside_unbounded=False)


def _check(items, *, inside_unbounded: bool) -> None:
    for op, argument in items:
        if op in _BACKREFERENCES:
            raise UnsafeRegex("uses a backreference, which is not supported")
        if op in _REPEATS:
            _, maximum, body = argument
            unbounded = maximum == sre.MAXREPEAT or maximum > UNBOUNDED
            if unbounded and inside_unbounded:
                raise UnsafeRegex("nests unbounded quantifiers such as (a+)+, which is not allowed")
            _check(body, inside_unbounded=inside_unbounded or unbounded)
        elif op == sre.SUBPATTERN:
            _check(argument[-1], inside_unbounded=inside_unbounded)
        elif op == sre.BRANCH:
            for branch in argument[1]:
                _check(branch, inside_unbounded=inside_unbounded)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _check(argument[1], inside_unbounded=inside_unbounded)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@lru_cache(maxsize=256)
def _compiled(pattern: str):
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:  # syntax RE2 lacks (lookarounds): checked above, so Python's is safe
        return re.compile(pattern)


def sqlite_regexp(pattern: str | None, value) -> bool | None:
    """SQLite's ``REGEXP`` function (``value REGEXP pattern``), as Django's but linear-time."""
    if pattern is None or value is None:
        return None
    return bool(_compiled(pattern).search(str(value)))


def use_linear_regexp_on_sqlite(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: replace Django's backtracking ``REGEXP`` on SQLite."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("REGEXP", 2, sqlite_regexp, deterministic=True)
