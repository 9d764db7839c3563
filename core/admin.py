"""Behaviour every admin of this project shares."""

from django.contrib import admin
from django.contrib.admin import SimpleListFilter
from django.core.exceptions import ValidationError
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404

from core.errors import ServiceError
from core.guards import refuse_overrides

_REFUSAL_ATTRIBUTE = "_admin_refusal"


# What Django's own list filters put into a changelist URL after the field's path: field
# filters (``active__exact``, ``tenant__id__exact``, ``…__isnull``, dates' ``…__gte``/``…__lt``).
FILTER_LOOKUPS = frozenset({"exact", "isnull", "gte", "lt", "id__exact"})
# And what the date hierarchy adds after its field.
DATE_HIERARCHY_LOOKUPS = frozenset({"year", "month", "day"})


def allowed_lookups(list_filter, date_hierarchy: str | None) -> frozenset[str]:
    """Every query-string lookup a changelist with these filters itself produces."""
    allowed = set()
    for item in list_filter:
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            allowed.add(item.parameter_name)
            continue
        path = item[0] if isinstance(item, list | tuple) else item
        allowed.update(f"{path}{LOOKUP_SEP}{suffix}" for suffix in FILTER_LOOKUPS)
    if date_hierarchy:
        allowed.update(f"{date_hierarchy}{LOOKUP_SEP}{part}" for part in DATE_HIERARCHY_LOOKUPS)
    return frozenset(allowed)


class ScopedAdminMixin:
    """An object outside the user's scope answers 404 exactly like a missing one, and a
    refusal raised while saving (a service's, or a last-moment validation's) re-shows the form
    with that error and what was typed; the view's transaction has saved nothing.

    Changelist lookups are an allowlist: only what the page's own list filters and date
    hierarchy produce. Django accepts a lookup on any local field by default, which turns a
    changelist into an oracle (``?password__startswith=…`` answers row by row whether a stored
    hash begins so) and into an engine for any regular expression; anything else answers 400
    (Django's ``DisallowedModelAdminLookup``). Search (``q``) goes through ``search_fields``."""

    def lookup_allowed(self, lookup, value, request=None):
        list_filter = self.get_list_filter(request) if request is not None else self.list_filter
        return lookup in allowed_lookups(list_filter, self.date_hierarchy)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("Not found.")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ServiceError, ValidationError) as exc:
            if request.method != "POST" or hasattr(request, _REFUSAL_ATTRIBUTE):
                raise
            message = exc.message if isinstance(exc, ServiceError) else " ".join(exc.messages)
            setattr(request, _REFUSAL_ATTRIBUTE, message)
            # Second pass over the same POST: the form now carries the refusal, so it is
            # invalid and Django renders it with the user's input, as for any form error.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, *args, **kwargs):
        form = super().get_form(request, obj, *args, **kwargs)
        refusal = getattr(request, _REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            return form

        class RefusedForm(form):
            def clean(self):
                cleaned_data = super().clean()
                self.add_error(None, refusal)
                return cleaned_data

        RefusedForm.__name__ = form.__name__
        return RefusedForm


class ReadOnlyAdminMixin:
    """Pages to look at only (the audit log, background jobs): nothing is added, changed or
    deleted through them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class GuardedAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """The one base of every admin page of the product. It owns the queryset every read path of
    Django's admin builds on (changelist, change and delete pages, actions, autocompletes):
    ``narrow_queryset(scoped_queryset(…))``.

    ``scoped_queryset`` is the page's scope, written once for each kind of page by a *scope
    base* (a class that says ``scope_base = True`` itself: customers and what hangs off them,
    identities and their audit, access requests, jobs, tenants), from the signed-in principal,
    and fail-closed: no rows until a scope base says otherwise. Every other subclass may only
    narrow it (``narrow_queryset``). A class that redefines what a base owns (``_owned`` of any
    base; ``scoped_queryset`` unless it is a scope base) is refused when it is defined, so no
    page can widen what it shows."""

    scope_base = False
    _owned = frozenset({"get_queryset", "get_object"})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        owned = set().union(*(vars(base).get("_owned", ()) for base in cls.__mro__[1:]))
        if not vars(cls).get("scope_base"):
            owned.add("scoped_queryset")
        refuse_overrides(
            cls, frozenset(owned), "GuardedAdmin and its scope base", "implement narrow_queryset"
        )

    def scoped_queryset(self, request, queryset):
        """The rows the signed-in user may see on this page: none unless a scope base says."""
        return queryset.none()

    def narrow_queryset(self, request, queryset):
        """Narrow the page's rows (filters, select_related); never widen them."""
        return queryset

    def get_queryset(self, request):
        scoped = self.scoped_queryset(request, super().get_queryset(request))
        return self.narrow_queryset(request, scoped)
