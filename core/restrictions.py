"""What a restriction value looks like, defined once (pure Python). The scope parser checks
suffixes with it, a tenant's valid restrictions (and its site codes) are validated against its
pattern, and every column and input field that holds a restriction takes its length."""

import re

RESTRICTION_PATTERN = r"^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*\Z"
RESTRICTION_MAX_LENGTH = 64

_restriction = re.compile(RESTRICTION_PATTERN)


def is_restriction_code(value: str) -> bool:
    return len(value) <= RESTRICTION_MAX_LENGTH and _restriction.match(value) is not None
