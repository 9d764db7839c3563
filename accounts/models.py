from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models

from accounts.scopes import SUFFIX_SEPARATOR, Grants, InvalidScope, parse_scopes
from core.channels import ActorKind, Channel
from tenancy.models import Tenant


def _tenant_restrictions(tenant: Tenant) -> set[str]:
    return set(tenant.restrictions.values_list("code", flat=True))


def validate_scope_list(scopes: list[str], tenant: Tenant | None, *, suffixes: bool) -> None:
    """Every scope known; suffixes (where allowed) must be restrictions of the tenant."""
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValidationError({"scopes": "Scopes must be a list of strings."})
    try:
        parsed = parse_scopes(scopes)
    except InvalidScope as exc:
        raise ValidationError({"scopes": str(exc)}) from exc
    suffixed = {scope.restriction for scope in parsed if scope.restriction is not None}
    if suffixed and not suffixes:
        raise ValidationError(
            {"scopes": "Group scopes are unsuffixed; list the group's restrictions instead."}
        )
    if suffixed and tenant is not None:
        unknown = suffixed - _tenant_restrictions(tenant)
        if unknown:
            raise ValidationError(
                {
                    "scopes": f"Restriction(s) not valid in tenant {tenant.code}: "
                    f"{', '.join(sorted(unknown))}."
                }
            )


class AccessGroup(models.Model):
    """Base scopes for employees; with restrictions, every scope is granted suffixed by each."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="access_groups")
    name = models.CharField(max_length=150)
    scopes = models.JSONField(default=list, help_text="Unsuffixed scope names.")
    restrictions = models.JSONField(
        default=list, blank=True, help_text="Empty: the scopes apply to every customer."
    )

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="access_group_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.tenant.code}/{self.name}"

    def clean(self) -> None:
        validate_scope_list(self.scopes, self.tenant if self.tenant_id else None, suffixes=False)
        if not isinstance(self.restrictions, list) or not all(
            isinstance(r, str) for r in self.restrictions
        ):
            raise ValidationError({"restrictions": "Restrictions must be a list of strings."})
        if self.tenant_id:
            unknown = set(self.restrictions) - _tenant_restrictions(self.tenant)
            if unknown:
                raise ValidationError(
                    {
                        "restrictions": f"Restriction(s) not valid in tenant {self.tenant.code}: "
                        f"{', '.join(sorted(unknown))}."
                    }
                )

    def scope_strings(self) -> list[str]:
        """The scopes the group grants: each base scope, suffixed by each restriction if any."""
        if not self.restrictions:
            return list(self.scopes)
        return [f"{base}{SUFFIX_SEPARATOR}{r}" for base in self.scopes for r in self.restrictions]

    def grants(self) -> Grants:
        # Lenient like a token: an invalid string grants nothing (clean() reports it).
        return Grants.from_strings(self.scope_strings())


def grants_of_groups(groups: Iterable[AccessGroup]) -> Grants:
    """An employee's grants: the union over their access groups."""
    return Grants.from_strings(text for group in groups for text in group.scope_strings())


class Employee(AbstractUser):
    """A back-office user bound to one tenant; platform superusers have no tenant."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="employees"
    )
    access_groups = models.ManyToManyField(AccessGroup, blank=True, related_name="employees")
    # Every token carries the generation it was issued under; changing the password or
    # deactivating moves to the next one, so every earlier token stops working at once.
    token_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_superuser=True) | models.Q(tenant__isnull=False),
                name="employee_has_tenant_unless_superuser",
            )
        ]

    def set_password(self, raw_password) -> None:
        super().set_password(raw_password)
        self.token_generation += 1

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "password" in update_fields:
            # Django saves only the password after set_password (password change, hash
            # upgrade); the generation it moved must be saved with it.
            kwargs["update_fields"] = {*update_fields, "token_generation"}
        super().save(*args, **kwargs)

    def grants(self) -> Grants:
        if self.is_superuser:
            return Grants.everything()
        return grants_of_groups(self.access_groups.filter(tenant_id=self.tenant_id))

    def scope_strings(self) -> list[str]:
        return self.grants().scope_strings()


def hash_client_secret(secret: str) -> str:
    # Client secrets are 256-bit random values, so a fast keyed hash is enough (no dictionary
    # attack is possible) and keeps the token endpoint cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiClient(models.Model):
    """An integration holding client credentials; scopes may carry restriction suffixes."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_clients")
    name = models.CharField(max_length=150)
    client_id = models.CharField(max_length=64, unique=True, editable=False)
    secret_hash = models.CharField(max_length=128, editable=False)
    scopes = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # As for employees: a new secret or a deactivation invalidates every earlier token.
    token_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["tenant", "name"]
        verbose_name = "API client"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="api_client_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    def clean(self) -> None:
        validate_scope_list(self.scopes, self.tenant if self.tenant_id else None, suffixes=True)

    def rotate_secret(self, secret: str | None = None) -> str:
        """Set a new secret (random unless given: the demo's are derived from SECRET_KEY) and
        return it in clear (shown once, stored hashed)."""
        if not self.client_id:
            self.client_id = f"cl_{secrets.token_urlsafe(12)}"
        secret = secret or secrets.token_urlsafe(32)
        self.secret_hash = hash_client_secret(secret)
        self.token_generation += 1
        return secret

    def check_secret(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_client_secret(secret))

    def grants(self) -> Grants:
        return Grants.from_strings(self.scopes)


class AccessChange(models.Model):
    """Audit of every change to who holds what: identities, their status and credentials, group
    memberships, groups' scopes and restrictions, a tenant's valid restrictions. Written by the
    identity services only; ``before``/``after`` hold the changed values, never a secret or a
    password hash."""

    class Action(models.TextChoices):
        CREATED = "created"
        CHANGED = "changed"
        DEACTIVATED = "deactivated"
        REACTIVATED = "reactivated"
        PASSWORD_CHANGED = "password_changed", "password changed"
        SECRET_ROTATED = "secret_rotated", "secret rotated"
        GROUP_ADDED = "group_added", "added to group"
        GROUP_REMOVED = "group_removed", "removed from group"
        DELETED = "deleted"

    class SubjectKind(models.TextChoices):
        EMPLOYEE = "employee"
        API_CLIENT = "api_client", "API client"
        ACCESS_GROUP = "access_group", "access group"
        TENANT = "tenant"

    # Null only for platform superusers, who belong to no tenant.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    subject_kind = models.CharField(max_length=16, choices=SubjectKind.choices)
    subject_id = models.CharField(max_length=150)
    subject_name = models.CharField(max_length=150)
    action = models.CharField(max_length=20, choices=Action.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    actor_kind = models.CharField("by (kind)", max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    actor_name = models.CharField("by", max_length=150, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    changed_at = models.DateTimeField("when", auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "-changed_at"], name="access_change_tenant_idx"),
            models.Index(
                fields=["tenant", "subject_kind", "subject_id"], name="access_change_subject_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_subject_kind_display()} {self.subject_name}: {self.get_action_display()}"
