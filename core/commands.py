"""Helpers shared by the management commands: bad input ends with exit status 2."""

from django.core.management.base import CommandError

from core.errors import ServiceError


def bad_input(exc: ServiceError | str) -> CommandError:
    message = exc if isinstance(exc, str) else exc.message
    return CommandError(message, returncode=2)
