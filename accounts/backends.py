"""Signing in with a username and password, on PostgreSQL behind the identities' row-level
security: the employee is found under the sign-in context (accounts.rowsecurity.SIGN_IN)."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from accounts import rowsecurity


class EmployeeBackend(ModelBackend):
    """Django's ``ModelBackend``; a session's employee is read under the sign-in context (the
    principal found binds its own context for the rest of the request)."""

    def get_user(self, user_id):
        with rowsecurity.signing_in():
            return super().get_user(user_id)
