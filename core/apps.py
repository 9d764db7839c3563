from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer: error types, the API error model, request limits, the admin and
    command bases every other app builds on. It imports no other app of the project."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from django.db.backends.signals import connection_created

        from core import checks, plans  # noqa: F401 - checks: registers the system checks

        connection_created.connect(plans.install)
