"""Through which door a change came in; recorded with every audited change."""

from django.db import models


class Channel(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "back office"
    COMMAND = "command", "command"
    IMPORT = "import", "import"
    REVIEW = "review", "access review"
    SCIM = "scim", "SCIM provisioning"
    SSO = "sso", "sign-in through the identity provider"


class ActorKind(models.TextChoices):
    """Who did it, as audit records say it (the kinds of ``accounts.principal.Principal``)."""

    API_CLIENT = "api_client", "API client"
    EMPLOYEE = "employee", "employee"
    OPERATOR = "operator", "operator"
    PLATFORM = "platform", "platform superuser"


CHANNEL_PHRASES = {
    Channel.API: "through the API",
    Channel.ADMIN: "in the back office",
    Channel.COMMAND: "by a management command",
    Channel.IMPORT: "by an import",
    Channel.REVIEW: "in an access review",
    Channel.SCIM: "by SCIM provisioning from the identity provider",
    Channel.SSO: "at sign-in through the identity provider",
}
