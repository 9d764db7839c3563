"""The interactive API documentation (Swagger UI at /api/docs/, Redoc at /api/redoc/), served by
the service alone: their scripts come from drf-spectacular-sidecar, the Redoc page loads no web
fonts, and a Content-Security-Policy keeps the browser from fetching anything elsewhere (Redoc's
side menu would show Redocly's logo from a CDN; the policy leaves it out)."""

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

SAME_ORIGIN_ONLY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",  # the pages' small start-up scripts
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
    ]
)


class SameOriginOnly:
    @extend_schema(exclude=True)  # (as drf-spectacular's own pages: not an API operation)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = SAME_ORIGIN_ONLY
        return response


class SwaggerDocs(SameOriginOnly, SpectacularSwaggerView):
    pass


class RedocDocs(SameOriginOnly, SpectacularRedocView):
    pass
