"""The interactive API documentation (Swagger UI at /api/docs/, Redoc at /api/redoc/), served by
the service alone: their scripts come from drf-spectacular-sidecar, the Redoc page loads no web
fonts, and a Content-Security-Policy keeps the browser from fetching anything elsewhere. Redoc's
bundle names one address elsewhere, Redocly's logo on a CDN in its side menu; it is served here
without it (the image then leaves itself out), so the browser never even tries."""

import functools
import hashlib
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import condition, require_safe
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOCLY_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"

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
    @staticmethod
    def _redoc_standalone():
        return reverse("api-redoc-bundle")


@functools.cache
def redoc_bundle() -> tuple[bytes, str]:
    """Redoc's standalone script as drf-spectacular-sidecar ships it, with the logo's address
    emptied (an image without a source fails at once, and Redoc then hides it), and its ETag."""
    script = Path(finders.find(REDOC_BUNDLE)).read_bytes().replace(REDOCLY_LOGO, b"")
    return script, hashlib.sha256(script).hexdigest()[:32]


@require_safe
@condition(etag_func=lambda request: redoc_bundle()[1])
def redoc_script(request):
    script, _ = redoc_bundle()
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
