from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.api.token import TokenApi
from config.api_docs import RedocDocs, SwaggerDocs
from core.health import healthz, readyz
from core.metrics import metrics

admin.site.site_header = "Customer Service back office"
admin.site.site_title = "Customer Service"
admin.site.index_title = "Customers, access and background jobs"
admin.site.site_url = None  # there is no public site to view: the API is for integrations
# The lists need the width (at 1400 px every column of the customer list shows); the start page
# and the breadcrumbs lead everywhere the sidebar would.
admin.site.enable_nav_sidebar = False


def favicon(request):
    """Browsers ask every site for /favicon.ico; it is a static file like the others."""
    return redirect(static("favicon.ico"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("oauth/token", TokenApi.as_view(), name="oauth-token"),
    path("customer/<str:tenant>/", include("customers.api.urls")),
    path("iam/<str:tenant>/", include("accounts.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerDocs.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", RedocDocs.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
