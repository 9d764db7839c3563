"""URL conf for tests that need a minimal authenticated view (never shipped)."""

from django.urls import path
from rest_framework.response import Response

from accounts.api import TenantApiView, can_manage, can_read
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


urlpatterns = [
    path("customer/<str:tenant>/test-whoami", WhoAmIApi.as_view()),
    *project_urlpatterns,
]
