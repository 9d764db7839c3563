"""URL conf for tests that need a minimal authenticated view (never shipped)."""

from django.db import connection
from django.urls import path
from rest_framework.response import Response

from accounts.api.base import TenantApiView, can_manage, can_read
from config.urls import urlpatterns as project_urlpatterns


class WhoAmIApi(TenantApiView):
    required_scope = {"GET": can_read, "POST": can_manage}

    def get(self, request, tenant):
        principal = self.principal
        return Response(
            {
                "tenant": principal.tenant_code,
                "kind": principal.kind,
                "id": principal.id,
                "scopes": principal.grants.scope_strings(),
            }
        )

    def post(self, request, tenant):
        return Response({"received": request.data})


class ForgetfulApi(TenantApiView):
    """A view written as if someone forgot the restriction filter (ORM and raw SQL): what it
    gets is what the database's row-level security lets through."""

    required_scope = {"GET": can_read, "POST": can_read}

    def get(self, request, tenant):
        from customers.models import Account, Address, Customer, RestrictionChange

        with connection.cursor() as cursor:
            cursor.execute("SELECT customer_number FROM customers_customer ORDER BY 1")
            raw = [row[0] for row in cursor.fetchall()]
        return Response(
            {
                "orm": sorted(Customer.objects.values_list("customer_number", flat=True)),
                "raw": raw,
                "addresses": Address.objects.count(),
                "accounts": Account.objects.count(),
                "audit": RestrictionChange.objects.count(),
            }
        )

    def post(self, request, tenant):
        from customers.models import Customer

        orm = Customer.objects.update(first_name="Forgotten")
        with connection.cursor() as cursor:
            cursor.execute("UPDATE customers_customer SET last_name = 'Forgotten'")
            raw = cursor.rowcount
        return Response({"orm": orm, "raw": raw})


urlpatterns = [
    path("customer/<str:tenant>/test-whoami", WhoAmIApi.as_view()),
    path("customer/<str:tenant>/test-forgetful", ForgetfulApi.as_view()),
    *project_urlpatterns,
]
