"""OpenAPI: the bearer token as an OAuth2 client-credentials scheme listing every scope, and
each operation's required scope."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from accounts.api import SCOPE_NAMES


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
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
                    "scopes": {
                        "customer.customer_read": "Read customers, addresses and accounts.",
                        "customer.customer_manage": "Create, change and delete customers.",
                        "restriction.restriction_manage": "Set or change a customer's restriction.",
                        "customer.import_manage": (
                            "Import customers; unsuffixed: configure the password-migration "
                            "retention window."
                        ),
                        "customer.import_read": "Read the password-migration retention window.",
                    },
                }
            },
        }

    def get_security_requirement(self, auto_schema):
        view = auto_schema.view
        check = getattr(view, "required_scope", {}).get(auto_schema.method.upper())
        return {self.name: [SCOPE_NAMES[check]] if check in SCOPE_NAMES else []}
