"""Staff sign-in through the tenant's identity provider: ``/sso/`` (name your tenant),
``/sso/<tenant>/`` (the tenant's sign-in page: "Sign in with <provider>"), ``…/start`` (to the
provider) and ``…/callback`` (back from it: verified, the employee's groups set, signed in)."""

from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts import rowsecurity, sso
from accounts.models import SignInProvider
from accounts.principal import Principal
from accounts.services.sign_in import SignInRefused, signed_in
from tenancy.models import Tenant

NO_PROVIDER = "There is no sign-in through an identity provider for that tenant."


def _provider(code: str) -> SignInProvider | None:
    """The tenant's sign-in provider, read bound to that tenant (row security)."""
    tenant = Tenant.objects.filter(code=code).first()
    if tenant is None:
        return None
    operator = Principal.operator(tenant)
    with rowsecurity.row_context(
        rowsecurity.RowContext.of(operator), reason=f"company sign-in page of {tenant.code}"
    ):
        return (
            SignInProvider.objects.in_tenant_of(operator)
            .select_related("tenant")
            .filter(tenant=tenant)
            .first()
        )


def _page(request, template: str, context: dict, status: int = 200):
    """A sign-in page, dressed like the back office's own sign-in page."""
    from django.contrib import admin

    return render(request, template, {**admin.site.each_context(request), **context}, status=status)


def _failed(request, message: str, code: str = "", status: int = 400):
    return _page(request, "sso/failed.html", {"message": message, "tenant_code": code}, status)


@require_GET
def choose_tenant(request):
    """The company sign-in form's target: on to the named tenant's sign-in page."""
    code = request.GET.get("tenant", "").strip()
    if not code:
        return _page(request, "sso/choose.html", {})
    if _provider(code) is None:
        return _page(request, "sso/choose.html", {"error": NO_PROVIDER, "tenant": code})
    return HttpResponseRedirect(reverse("sso-tenant", kwargs={"tenant": code}))


@require_GET
def tenant_page(request, tenant: str):
    provider = _provider(tenant)
    if provider is None:
        return _page(request, "sso/choose.html", {"error": NO_PROVIDER, "tenant": tenant})
    return _page(request, "sso/tenant.html", {"provider": provider})


@require_GET
def start(request, tenant: str):
    provider = _provider(tenant)
    if provider is None:
        return _failed(request, NO_PROVIDER, status=404)
    callback = request.build_absolute_uri(reverse("sso-callback", kwargs={"tenant": tenant}))
    try:
        return sso.start(request, provider, callback)
    except sso.SignInFailed as exc:
        return _failed(request, str(exc), tenant, status=502)


@require_GET
def callback(request, tenant: str):
    provider = _provider(tenant)
    if provider is None:
        return _failed(request, NO_PROVIDER, status=404)
    try:
        claims = sso.finish(request, provider)  # (the provider's answer, before any transaction)
        # Nothing is bound before a sign-in knows its tenant: it changes the employee as the
        # tenant's operator, bound to that tenant alone (row security, audited).
        operator = Principal.operator(provider.tenant)
        with rowsecurity.row_context(
            rowsecurity.RowContext.of(operator),
            reason=f"company sign-in to {provider.tenant.code} through {provider.name}",
        ):
            employee = signed_in(provider=provider, claims=claims)
            login(request, employee, backend="accounts.backends.EmployeeBackend")
    except (sso.SignInFailed, SignInRefused) as exc:
        return _failed(request, str(exc), tenant)
    return HttpResponseRedirect(reverse("admin:index"))
