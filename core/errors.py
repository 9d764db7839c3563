"""The domain's refusals: every service raises one of these, and each edge presents it — the
API as its error body (core.api_errors), the back office as a form error or message, a command
as exit status 2 with the message."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class ServiceError(Exception):
    """A refusal by a domain service; the API, the admin and the commands each present it."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, type: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.details = [{"field": field, "type": type, "message": message}] if field else None


class InvalidInput(ServiceError):
    status = 400


class NotPermitted(ServiceError):
    status = 403


class DoesNotExist(ServiceError):
    status = 404


class ConflictError(ServiceError):
    status = 409


class Unavailable(ServiceError):
    """Something the answer depends on cannot be done just now (the read-access log's journal
    cannot be written): nothing was answered; the caller may try again."""

    status = 503


class Gone(ServiceError):
    """It existed and is no more (a one-time download, taken or expired)."""

    status = 410


def validation_message(exc: ValidationError) -> str:
    """One line from a Django ``ValidationError`` (``field: message; …`` when per field)."""
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def full_clean(instance, **kwargs) -> None:
    """Model validation for services: a failure is an :class:`InvalidInput` like every other
    refusal, so callers handle one error family."""
    try:
        instance.full_clean(**kwargs)
    except ValidationError as exc:
        field = next(iter(exc.message_dict), None) if hasattr(exc, "message_dict") else None
        raise InvalidInput(validation_message(exc), field=field) from exc


def first_or_not_found(queryset, message: str):
    """The queryset's first row, or :class:`DoesNotExist` (404) with ``message``. The one way
    to look a record up for a caller: through a scoped queryset, so a record the caller may not
    see answers exactly like one that does not exist."""
    found = queryset.first()
    if found is None:
        raise DoesNotExist(message)
    return found
