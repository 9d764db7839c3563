from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView

from accounts import sso_views
from accounts.api.token import TokenApi
from config.api_docs import RedocDocs, SwaggerDocs, redoc_script
from core.health import healthz, readyz
from core.metrics import metrics
from customers.api.audit import CustomerViewListApi

admin.site.site_header = "Customer Service back office"
admin.site.site_title = "Customer Service"
admin.site.index_title = "Customers, access and background jobs"
admin.site.site_url = None  # there is no public site to view: the API is for integrations
# The lists need the width (at 1400 px every column of the customer list shows); the start page
# and the breadcrumbs lead everywhere the sidebar would.
admin.site.enable_nav_sidebar = False


def permission_denied(request, exception=None):
    """A refusal in the back office is the back office's own page (its header, a reason, a way
    back), not a bare "403 Forbidden"; elsewhere Django's."""
    if request.path.startswith("/admin/") and request.user.is_authenticated:
        reason = (
            str(exception)
            if exception and str(exception)
            else (
                "This page is not open to you: it is for tenant administrators (or platform "
                "superusers), or what it shows is beyond your access."
            )
        )
        context = {**admin.site.each_context(request), "title": "Not open to you", "reason": reason}
        return TemplateResponse(request, "admin/refused.html", context, status=403)
    return defaults.permission_denied(request, exception)


handler403 = permission_denied


def favicon(request):
    """Browsers ask every site for /favicon.ico; it is a static file like the others."""
    return redirect(static("favicon.ico"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("oauth/token", TokenApi.as_view(), name="oauth-token"),
    path("customer/<str:tenant>/", include("customers.api.urls")),
    # (the read-access log is the customers' record, listed with the other audit lists)
    path("iam/<str:tenant>/views", CustomerViewListApi.as_view(), name="customer-view-list"),
    path("iam/<str:tenant>/", include("accounts.api.urls")),
    path("scim/v2/<str:tenant>/", include("accounts.scim.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerDocs.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", RedocDocs.as_view(url_name="schema"), name="api-redoc"),
    path("api/redoc/redoc.standalone.js", redoc_script, name="api-redoc-bundle"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("sso/", sso_views.choose_tenant, name="sso-choose"),
    path("sso/<str:tenant>/", sso_views.tenant_page, name="sso-tenant"),
    path("sso/<str:tenant>/start", sso_views.start, name="sso-start"),
    path("sso/<str:tenant>/callback", sso_views.callback, name="sso-callback"),
    path("admin/", admin.site.urls),
]
