from django.core.validators import RegexValidator

from core.restrictions import RESTRICTION_PATTERN

TENANT_CODE_PATTERN = r"^[a-z][a-z0-9]{2,15}\Z"
# A site code has the shape of a restriction code: tenants may use their sites as restrictions.
SITE_CODE_PATTERN = RESTRICTION_PATTERN

validate_tenant_code = RegexValidator(
    TENANT_CODE_PATTERN,
    "A tenant code starts with a lower-case letter followed by 2 to 15 lower-case letters or "
    "digits.",
    code="invalid_tenant_code",
)
validate_restriction_code = RegexValidator(
    RESTRICTION_PATTERN,
    "A restriction code is letters, digits and underscores, optionally joined by single "
    "hyphens (never '--').",
    code="invalid_restriction_code",
)
validate_site_code = RegexValidator(
    SITE_CODE_PATTERN,
    "A site code is letters, digits and underscores, optionally joined by single hyphens.",
    code="invalid_site_code",
)
