"""Behaviour every admin of this project shares."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect

from config.errors import ServiceError


class ScopedAdminMixin:
    """An object outside the user's scope answers 404 exactly like a missing one (R2), and a
    refusal raised while saving (a service's, or a last-moment validation's) becomes an error
    message on the same page; the view's transaction has saved nothing."""

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("Not found.")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ServiceError, ValidationError) as exc:
            message = exc.message if isinstance(exc, ServiceError) else " ".join(exc.messages)
            self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
