from django.core.validators import RegexValidator

TENANT_CODE_PATTERN = r"^[a-z][a-z0-9]{2,15}\Z"
RESTRICTION_CODE_PATTERN = r"^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*\Z"
SITE_CODE_PATTERN = r"^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*\Z"
RESTRICTION_MAX_LENGTH = 64

validate_tenant_code = RegexValidator(
    TENANT_CODE_PATTERN,
    "A tenant code starts with a lower-case letter followed by 2 to 15 lower-case letters or "
    "digits.",
    code="invalid_tenant_code",
)
validate_restriction_code = RegexValidator(
    RESTRICTION_CODE_PATTERN,
    "A restriction code is letters, digits and underscores, optionally joined by single "
    "hyphens (never '--').",
    code="invalid_restriction_code",
)
validate_site_code = RegexValidator(
    SITE_CODE_PATTERN,
    "A site code is letters, digits and underscores, optionally joined by single hyphens.",
    code="invalid_site_code",
)
