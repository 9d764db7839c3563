"""Every URL route of the product is guarded: a tenant API route by the one API base
(``TenantApiView``: token, tenant match, scopes, the principal's querysets), the back office by
the admin site (every page a ``GuardedAdmin``, tests/admin/test_admin_guard.py); the few routes
open to anyone are listed here with why. A new route that is none of these fails."""

from django.urls import URLPattern, URLResolver, get_resolver

from accounts.api.base import TenantApiView

# route -> why anyone may call it (none reads or writes a tenant's data)
OPEN = {
    "favicon.ico": "a redirect to a static file",
    "oauth/token": "the token endpoint: the credentials are the check (throttled)",
    "api/schema/": "the OpenAPI description (no data)",
    "api/docs/": "the API documentation page (no data)",
    "api/redoc/": "the API documentation page (no data)",
    "api/redoc/redoc.standalone.js": "the documentation page's script (no data)",
    "healthz": "liveness: answers ok",
    "readyz": "readiness: database and migrations, no data",
    "metrics": "Prometheus metrics: counts by route and status, no data",
    "sso/": "company sign-in: names the tenant's provider, no data",
    "sso/<str:tenant>/": "company sign-in: the provider's name, no data",
    "sso/<str:tenant>/start": "company sign-in: a redirect to the tenant's provider",
    "sso/<str:tenant>/callback": "company sign-in: the provider's signed ID token is the check",
}


def routes():
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.append((prefix + str(pattern.pattern), pattern.callback))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_route_is_guarded_or_listed_as_open():
    unguarded = []
    for route, callback in routes():
        view_class = getattr(callback, "view_class", None)
        if route.startswith("admin/"):
            continue  # the admin site: every page a GuardedAdmin (test_admin_guard.py)
        if view_class is not None and issubclass(view_class, TenantApiView):
            tenant_prefixes = (
                "customer/<str:tenant>/",
                "iam/<str:tenant>/",
                "scim/v2/<str:tenant>/",
            )
            assert route.startswith(tenant_prefixes), route
        elif route not in OPEN:
            unguarded.append(route)
    assert not unguarded, f"routes neither guarded nor listed as open: {unguarded}"
    assert OPEN.keys() <= {route for route, _ in routes()}  # (no stale entry)
