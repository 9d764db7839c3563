"""Through which door a change came in; recorded with every audited change."""

from django.db import models


class Channel(models.TextChoices):
    API = "api"
    ADMIN = "admin"
    COMMAND = "command"
    IMPORT = "import"


CHANNEL_PHRASES = {
    Channel.API: "through the API",
    Channel.ADMIN: "in the back office",
    Channel.COMMAND: "by a management command",
    Channel.IMPORT: "by an import",
}
