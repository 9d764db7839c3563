"""The back office's access explainer page, for tenant administrators and superusers."""

from __future__ import annotations

from django import forms
from django.template.response import TemplateResponse

from accounts.admin_principal import admin_principal, principal_in_tenant
from accounts.models import ApiClient, Employee
from customers.access import explain_access
from customers.admin.base import RestrictionChoiceField
from customers.models import Customer
from tenancy.models import Restriction


def may_explain(request) -> bool:
    principal = admin_principal(request)
    return principal is not None and principal.grants.can_manage_tenant()


class ExplainAccessForm(forms.Form):
    identity = forms.ChoiceField(label="Employee or API client")
    customer_number = forms.CharField(
        label="Customer number", required=False, max_length=66, strip=True
    )
    restriction = RestrictionChoiceField(
        label="…or a restriction value",
        help_text="Used without a customer.",
        none_label="no restriction (null)",
    )

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        principal = admin_principal(request)
        employees = Employee.objects.select_related("tenant").order_by("username")
        clients = ApiClient.objects.select_related("tenant").order_by("name")
        restrictions = Restriction.objects.order_by("code")
        if not principal.sees_every_tenant:
            employees = employees.filter(tenant_id=principal.tenant_id)
            clients = clients.filter(tenant_id=principal.tenant_id)
            restrictions = restrictions.filter(tenant_id=principal.tenant_id)
        else:
            employees = employees.filter(tenant__isnull=False)
        self.identities = {
            **{f"employee:{e.pk}": e for e in employees},
            **{f"client:{c.pk}": c for c in clients},
        }
        self.fields["identity"].choices = [
            ("", "— choose —"),
            (
                "Employees",
                [
                    (k, f"{v.username} ({v.tenant.code})")
                    for k, v in self.identities.items()
                    if k.startswith("employee:")
                ],
            ),
            (
                "API clients",
                [
                    (k, f"{v.name} ({v.tenant.code})")
                    for k, v in self.identities.items()
                    if k.startswith("client:")
                ],
            ),
        ]
        codes = sorted(set(restrictions.values_list("code", flat=True)))
        self.fields["restriction"].offer(codes, none=True, blank="—")

    def clean(self):
        cleaned = super().clean()
        identity = self.identities.get(cleaned.get("identity", ""))
        if identity is None:
            return cleaned
        cleaned["identity_object"] = identity
        number = cleaned.get("customer_number")
        if not number and cleaned.get("restriction", "") == "":
            raise forms.ValidationError("Give a customer number or a restriction value.")
        cleaned["customer"] = None
        if number:
            # Looked up through the administrator's own visibility: the page never reveals a
            # customer they could not see themselves (same answer as a missing number).
            viewer = principal_in_tenant(self.request, identity.tenant)
            customers = Customer.objects.visible_to(viewer)
            customer = customers.filter(customer_number=number).first()
            if customer is None:
                self.add_error("customer_number", "No customer with this number.")
            cleaned["customer"] = customer
        return cleaned


def explain_access_view(request, model_admin):
    if not may_explain(request):
        # The back office's own page (not Django's bare 403), saying who may use it.
        context = {
            **model_admin.admin_site.each_context(request),
            "title": "Explain access",
            "reason": "Explain access is for tenant administrators (and platform "
            "superusers): it shows what other employees and API clients may do.",
        }
        return TemplateResponse(request, "admin/refused.html", context, status=403)
    form = ExplainAccessForm(request.GET or None, request=request)
    explanation = None
    if form.is_valid():
        identity = form.cleaned_data["identity_object"]
        explanation = explain_access(
            identity=identity,
            tenant=identity.tenant,
            customer=form.cleaned_data["customer"],
            restriction=form.cleaned_data["restriction"] or None,
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Explain access",
        "form": form,
        "explanation": explanation,
    }
    return TemplateResponse(request, "admin/customers/explain_access.html", context)
