from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from customers import lookups  # noqa: F401  (registers the `ilike` lookup)
        from customers.regex import use_linear_regexp_on_sqlite

        connection_created.connect(use_linear_regexp_on_sqlite)
