"""Behaviour every admin of this project shares."""

from django.contrib.admin import SimpleListFilter
from django.core.exceptions import ValidationError
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404

from core.errors import ServiceError

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
