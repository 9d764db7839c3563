"""OpenAPI: the bearer token as an OAuth2 client-credentials scheme listing every scope, and
each operation's required scope."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from accounts.api.base import REQUIRED_SCOPES
from accounts.scopes import (
    AUDIT_READ,
    CUSTOMER_MANAGE,
    CUSTOMER_READ,
    IMPORT_MANAGE,
    IMPORT_READ,
    PRIVACY_MANAGE,
    RESTRICTION_MANAGE,
)

# Every scope an API operation can require (tenant.tenant_manage is for the back office only).
SCOPE_DESCRIPTIONS = {
    CUSTOMER_READ: "Read customers, addresses and accounts.",
    CUSTOMER_MANAGE: "Create, change and delete customers.",
    RESTRICTION_MANAGE: "Set or change a customer's restriction.",
    IMPORT_MANAGE: (
        "Import customers; unsuffixed: configure the password-migration retention window."
    ),
    IMPORT_READ: "Read the password-migration retention window.",
    AUDIT_READ: (
        "Read the audit records: suffixed, the restriction changes of the customers it covers; "
        "unsuffixed, also the access-change log and the access reviews."
    ),
    PRIVACY_MANAGE: (
        "Handle data-subject requests: export, erase or hold the customers it covers."
    ),
}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.BearerTokenAuthentication"
    name = "OAuth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": (
                "JWT bearer token from `POST /oauth/token`. Scopes may carry a restriction "
                "suffix (`customer.customer_read--DE`) that limits them to customers with that "
                "restriction."
            ),
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth/token",
                    "scopes": SCOPE_DESCRIPTIONS,
                }
            },
        }

    def get_security_requirement(self, auto_schema):
        view = auto_schema.view
        check = getattr(view, "required_scope", {}).get(auto_schema.method.upper())
        return {self.name: [REQUIRED_SCOPES[check][0]] if check in REQUIRED_SCOPES else []}
