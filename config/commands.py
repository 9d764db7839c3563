"""Helpers shared by the management commands: bad input ends with exit status 2."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def bad_input(exc: ValidationError | str) -> CommandError:
    message = exc if isinstance(exc, str) else validation_message(exc)
    return CommandError(message, returncode=2)
