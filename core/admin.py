"""Behaviour every admin of this project shares."""

from django.core.exceptions import ValidationError
from django.http import Http404

from core.errors import ServiceError

_REFUSAL_ATTRIBUTE = "_admin_refusal"


def is_platform_superuser(request) -> bool:
    """An active superuser: sees and manages every tenant in the back office."""
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


class ScopedAdminMixin:
    """An object outside the user's scope answers 404 exactly like a missing one, and a
    refusal raised while saving (a service's, or a last-moment validation's) re-shows the form
    with that error and what was typed; the view's transaction has saved nothing."""

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
