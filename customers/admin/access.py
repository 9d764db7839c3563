"""The back office's access explainer page, for tenant administrators and superusers."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.text import slugify

from accounts.admin_principal import admin_principal, principal_in_tenant
from accounts.models import ApiClient, Employee
from core.spreadsheets import SpreadsheetWriter
from customers.access import explain_access, who_has_access
from customers.admin.base import RestrictionChoiceField
from customers.models import Customer
from tenancy.models import Restriction, Tenant


def may_explain(request) -> bool:
    principal = admin_principal(request)
    return principal is not None and principal.grants.can_manage_tenant()


class ExplainAccessForm(forms.Form):
    identity = forms.ChoiceField(label="Employee or API client", required=False)
    tenant = forms.ChoiceField(label="Tenant", required=False, help_text="For “everyone”.")
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
        employees = Employee.objects.administered_by(principal).select_related("tenant")
        clients = ApiClient.objects.administered_by(principal).select_related("tenant")
        employees, clients = employees.order_by("username"), clients.order_by("name")
        restrictions = Restriction.objects.order_by("code")
        if not principal.sees_every_tenant:
            restrictions = restrictions.filter(tenant_id=principal.tenant_id)
        else:
            employees = employees.filter(tenant__isnull=False)
        self.identities = {
            **{f"employee:{e.pk}": e for e in employees},
            **{f"client:{c.pk}": c for c in clients},
        }
        self.principal = principal
        if principal.sees_every_tenant:
            self.fields["tenant"].choices = [
                ("", "—"),
                *Tenant.objects.order_by("code").values_list("pk", "code"),
            ]
        else:
            del self.fields["tenant"]
        self.fields["identity"].choices = [
            ("", "— everyone: who may see it? —"),
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
        chosen = cleaned.get("identity", "")
        identity = self.identities.get(chosen)
        if chosen and identity is None:
            raise forms.ValidationError("Choose an employee or API client from the list.")
        cleaned["identity_object"] = identity
        if identity is not None:
            tenant = identity.tenant
        elif not self.principal.sees_every_tenant:
            tenant = Tenant.objects.get(pk=self.principal.tenant_id)
        else:
            tenant = Tenant.objects.filter(pk=cleaned.get("tenant") or 0).first()
            if tenant is None:
                raise forms.ValidationError("Choose the tenant to answer for.")
        cleaned["tenant_object"] = tenant
        number = cleaned.get("customer_number")
        if not number and cleaned.get("restriction", "") == "":
            raise forms.ValidationError("Give a customer number or a restriction value.")
        cleaned["customer"] = None
        if number:
            # Looked up through the administrator's own visibility: the page never reveals a
            # customer they could not see themselves (same answer as a missing number).
            viewer = principal_in_tenant(self.request, tenant)
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
    query = request.GET.copy()
    as_csv = query.pop("format", [""])[0] == "csv"
    form = ExplainAccessForm(query or None, request=request)
    explanation = everyone = target = None
    if form.is_valid():
        identity = form.cleaned_data["identity_object"]
        customer = form.cleaned_data["customer"]
        restriction = form.cleaned_data["restriction"] or None
        if identity is not None:
            explanation = explain_access(
                identity=identity,
                tenant=identity.tenant,
                customer=customer,
                restriction=restriction,
            )
        else:
            value = customer.restriction if customer is not None else restriction
            everyone = who_has_access(tenant=form.cleaned_data["tenant_object"], restriction=value)
            target = (
                f"customer {customer.customer_number}" if customer is not None else "customers"
            ) + (f" with restriction {value}" if value else " without a restriction")
            if as_csv:
                return _csv(everyone, target)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Explain access",
        "form": form,
        "explanation": explanation,
        "everyone": everyone,
        "everyone_target": target,
        "csv_query": f"{query.urlencode()}&format=csv",
    }
    return TemplateResponse(request, "admin/customers/explain_access.html", context)


def _csv(answers, target: str) -> HttpResponse:
    """Who may see it, for a spreadsheet: a plain table, its header first, one row per employee
    or API client (what it is about is in the file's name)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="who-may-see-{slugify(target)}.csv"'
    writer = SpreadsheetWriter(response)
    writer.writerow(["kind", "name", "read", "manage", "change restriction", "because"])
    for answer in answers:
        writer.writerow(
            [
                answer.kind,
                answer.name,
                "yes" if answer.read else "no",
                "yes" if answer.manage else "no",
                "yes" if answer.assign else "no",
                "; ".join(answer.because),
            ]
        )
    return response
