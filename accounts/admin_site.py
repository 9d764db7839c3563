"""The back office's admin site: Django's, except that an employee's own password change is
saved by the identity service (the locked row, only the password and the token generation
written, the change recorded), like every other identity write. Django's own view saves the
whole employee row it loaded at the start of the request, which could write back a status an
administrator had just changed (a deactivated employee reactivated)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.channels import Channel


class OwnPasswordChangeForm(AdminPasswordChangeForm):
    def save(self, commit=True):
        from accounts.principal import Principal
        from accounts.services.identities import employee_change_own_password

        themselves = (
            Principal.platform(self.user)
            if self.user.is_superuser
            else Principal.for_employee(self.user, self.user.tenant)
        )
        self.user = employee_change_own_password(
            actor=themselves,
            password=self.cleaned_data["new_password1"],
            channel=Channel.ADMIN,
        )
        return self.user


class BackOfficeLoginForm(AdminAuthenticationForm):
    """Django's admin sign-in, except for employees of a tenant that signs its staff in through
    its identity provider only: told where to sign in (only once their password was right, so
    the message tells a stranger nothing)."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        from accounts.services.sign_in import password_refusal

        refusal = password_refusal(user)
        if refusal:
            raise ValidationError(refusal, code="provider_only")


class BackOfficeSite(admin.AdminSite):
    login_template = "admin/back_office_login.html"
    login_form = BackOfficeLoginForm
    # What other apps add to the home page: each ``panel(request, principal) -> context``.
    index_panels: list = []

    def login(self, request, extra_context=None):
        """Django's sign-in page; the employee is found, checked and their sign-in recorded
        under the sign-in context (row-level security: nobody is signed in yet)."""
        from accounts import rowsecurity

        with rowsecurity.signing_in():
            return super().login(request, extra_context)

    def index(self, request, extra_context=None):
        """The index, with a tenant administrator's unacknowledged break-glass activations on
        top (until one of them acknowledges each) and who of them has no e-mail address."""
        from accounts.admin_principal import admin_principal
        from accounts.holdings import tenant_administrators
        from accounts.services.temporary_access import unacknowledged_activations

        principal = admin_principal(request)
        context = dict(extra_context or {})
        if (
            principal is not None
            and principal.tenant_id is not None
            and principal.grants.can_manage_tenant()
        ):
            context["emergencies"] = list(unacknowledged_activations(principal.tenant_id)[:50])
            if context["emergencies"]:
                context["not_emailed"] = list(
                    tenant_administrators(principal.tenant_id)
                    .filter(email="")
                    .values_list("username", flat=True)
                )
        for panel in self.index_panels:
            context.update(panel(request, principal))
        return super().index(request, context)

    def password_change(self, request, extra_context=None):
        url = reverse("admin:password_change_done", current_app=self.name)
        request.current_app = self.name
        view = PasswordChangeView.as_view(
            form_class=OwnPasswordChangeForm,
            success_url=url,
            extra_context={**self.each_context(request), **(extra_context or {})},
            **(
                {"template_name": self.password_change_template}
                if self.password_change_template is not None
                else {}
            ),
        )
        return view(request)
