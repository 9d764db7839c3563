from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models

from accounts import rowsecurity
from accounts.querysets import AccessRequestQuerySet, IdentityQuerySet, TemporaryGrantQuerySet
from accounts.scopes import (
    SUFFIX_SEPARATOR,
    TENANT_MANAGE,
    Grants,
    InvalidScope,
    parse_scopes,
)
from core.channels import ActorKind, Channel
from core.datetimes import span
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


BREAK_GLASS_ADMINISTRATION = (
    "A group that carries tenant administration (tenant.tenant_manage) cannot be activated in "
    "an emergency: whoever activated it could make their access permanent."
)


class AccessGroup(models.Model):
    """Base scopes for employees; with restrictions, every scope is granted suffixed by each."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="access_groups")
    name = models.CharField(max_length=150)
    scopes = models.JSONField(default=list, help_text="Unsuffixed scope names.")
    restrictions = models.JSONField(
        default=list, blank=True, help_text="Empty: the scopes apply to every customer."
    )
    break_glass = models.BooleanField(
        "emergency self-activation",
        default=False,
        help_text="An employee may activate this group for themselves in an emergency, for at "
        "most the tenant's maximum duration; every tenant administrator is e-mailed at once.",
    )
    # The identity provider's own id for the group, when SCIM provisions it.
    external_id = models.CharField("identity provider's id", max_length=255, blank=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="access_group_unique_name",
                violation_error_message="An access group of this name already exists.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant.code}/{self.name}"

    def clean(self) -> None:
        validate_scope_list(self.scopes, self.tenant if self.tenant_id else None, suffixes=False)
        if self.break_glass and self.carries_tenant_administration:
            raise ValidationError({"break_glass": BREAK_GLASS_ADMINISTRATION})
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

    @property
    def carries_tenant_administration(self) -> bool:
        return TENANT_MANAGE in self.scopes

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


class EmployeeManager(UserManager.from_queryset(IdentityQuerySet)):
    """Django's user manager (``create_user``, ``get_by_natural_key``) with the identity
    querysets' tenant-first methods.

    On PostgreSQL employees are behind row-level security: finding one by username (a sign-in,
    ``createsuperuser``) binds the sign-in context first, and a platform superuser, who belongs
    to no tenant, is created with every tenant bound."""

    def get_by_natural_key(self, username):
        with rowsecurity.signing_in(using=self.db):
            return super().get_by_natural_key(username)

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        reason = f"creating the platform superuser {username}"
        with rowsecurity.row_context(rowsecurity.ALL_TENANTS, reason=reason, using=self.db):
            return super().create_superuser(username, email, password, **extra_fields)


class Employee(AbstractUser):
    """A back-office user bound to one tenant; platform superusers have no tenant."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="employees"
    )
    access_groups = models.ManyToManyField(AccessGroup, blank=True, related_name="employees")
    # The identity provider's own id for the person, when SCIM provisions them.
    external_id = models.CharField("identity provider's id", max_length=255, blank=True)
    # Every token carries the generation it was issued under; changing the password or
    # deactivating moves to the next one, so every earlier token stops working at once.
    token_generation = models.PositiveIntegerField(default=0, editable=False)
    last_token_at = models.DateTimeField("last token issued", null=True, blank=True, editable=False)

    objects = EmployeeManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(is_superuser=True) | models.Q(tenant__isnull=False),
                name="employee_has_tenant_unless_superuser",
                violation_error_message=(
                    "An employee who is not a platform superuser belongs to a tenant."
                ),
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
        """What the employee holds now: their standing groups and their temporary grants whose
        window is open."""
        if self.is_superuser:
            return Grants.everything()
        if self.pk is None:
            return Grants()
        standing = grants_of_groups(self.access_groups.filter(tenant_id=self.tenant_id))
        return standing | temporary_grants(TemporaryGrant.objects.current().filter(employee=self))

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
    # (may be empty: a client whose every scope was revoked, or that holds temporary ones only)
    scopes = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # As for employees: a new secret or a deactivation invalidates every earlier token.
    token_generation = models.PositiveIntegerField(default=0, editable=False)
    last_token_at = models.DateTimeField("last token issued", null=True, blank=True, editable=False)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "name"]
        verbose_name = "API client"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="api_client_unique_name",
                violation_error_message="An API client of this name already exists.",
            )
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
        """Its standing scopes and its temporary scopes whose window is open."""
        if self.pk is None:
            return self.standing_grants()
        return self.standing_grants() | temporary_grants(
            TemporaryGrant.objects.current().filter(api_client=self)
        )

    def standing_grants(self) -> Grants:
        return Grants.from_strings(self.scopes)


class TemporaryGrant(models.Model):
    """Access for a window of time: an employee's membership of an access group (or one scope
    string), or one more scope for an API client. Outside ``valid_from``..``valid_until`` it
    grants nothing (the principal lookup reads the window with the row); ``expire_access``
    only tidies rows whose window has passed and records that they expired. Written by the
    temporary-access services only."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    employee = models.ForeignKey(
        Employee, on_delete=models.CASCADE, null=True, blank=True, related_name="temporary_grants"
    )
    api_client = models.ForeignKey(
        ApiClient, on_delete=models.CASCADE, null=True, blank=True, related_name="temporary_grants"
    )
    group = models.ForeignKey(
        AccessGroup,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="temporary_grants",
        help_text="Employees: the access group granted for the window.",
    )
    scope = models.CharField(
        max_length=200,
        blank=True,
        help_text="Or one scope string, e.g. customer.customer_read--FR.",
    )
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(db_index=True)
    break_glass = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    granted_by_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    granted_by_id = models.CharField(max_length=150)
    granted_by_name = models.CharField("granted by", max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TemporaryGrantQuerySet.as_manager()

    class Meta:
        ordering = ["valid_until", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(employee__isnull=False, api_client__isnull=True)
                    | models.Q(employee__isnull=True, api_client__isnull=False, group__isnull=True)
                ),
                name="temporary_grant_one_holder",
                violation_error_message=(
                    "Grant it to either an employee or an API client (an API client holds "
                    "scopes, not groups)."
                ),
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(group__isnull=False, scope="")
                    | (models.Q(group__isnull=True) & ~models.Q(scope=""))
                ),
                name="temporary_grant_group_or_scope",
                violation_error_message="Name either an access group or one scope, not both.",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")),
                name="temporary_grant_window",
                violation_error_message="The end must be after the start.",
            ),
        ]
        indexes = [
            models.Index(fields=["employee", "valid_until"], name="temporary_grant_employee_idx"),
            models.Index(fields=["api_client", "valid_until"], name="temporary_grant_client_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.holder_name}: {self.what} until {self.valid_until:%Y-%m-%d %H:%M}"

    @property
    def holder(self):
        return self.employee if self.employee_id else self.api_client

    @property
    def holder_name(self) -> str:
        return self.employee.username if self.employee_id else self.api_client.name

    @property
    def what(self) -> str:
        return f"group {self.group.name}" if self.group_id else f"scope {self.scope}"

    def scope_strings(self) -> list[str]:
        return self.group.scope_strings() if self.group_id else [self.scope]


def temporary_grants(grants: Iterable[TemporaryGrant]) -> Grants:
    """What temporary grants hold together (one query, their groups joined)."""
    if isinstance(grants, models.QuerySet):
        grants = grants.select_related("group")
    return Grants.from_strings(text for grant in grants for text in grant.scope_strings())


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
        TEMPORARY_GRANTED = "temporary_granted", "granted temporarily"
        TEMPORARY_REVOKED = "temporary_revoked", "temporary access revoked"
        EXPIRED = "expired", "temporary access expired"

    class SubjectKind(models.TextChoices):
        EMPLOYEE = "employee"
        API_CLIENT = "api_client", "API client"
        ACCESS_GROUP = "access_group", "access group"
        TENANT = "tenant"

    # Null only for platform superusers, who belong to no tenant.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    subject_kind = models.CharField("identity kind", max_length=16, choices=SubjectKind.choices)
    subject_id = models.CharField(max_length=150)
    subject_name = models.CharField(max_length=150)
    action = models.CharField(max_length=20, choices=Action.choices)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    actor_kind = models.CharField("actor kind", max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    actor_name = models.CharField("by", max_length=150, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # Emergency self-activation: highlighted in the log and in the next access review.
    break_glass = models.BooleanField("break-glass", default=False)
    changed_at = models.DateTimeField("when", auto_now_add=True, db_index=True)

    objects = IdentityQuerySet.as_manager()

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


class AccessRequest(models.Model):
    """An employee's request for temporary access: an access group (or one suffixed scope) for
    a duration, with a reason. A tenant administrator who could grant it (never the requester)
    approves it, which creates a :class:`TemporaryGrant`, or denies it. A break-glass request
    is its own activation: granted at once, every tenant administrator told."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"
        WITHDRAWN = "withdrawn"
        ACTIVATED = "activated", "activated (break-glass)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    requester = models.ForeignKey(
        Employee, on_delete=models.CASCADE, related_name="access_requests"
    )
    group = models.ForeignKey(
        AccessGroup, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    scope = models.CharField(max_length=200, blank=True)
    duration = models.DurationField()
    reason = models.TextField()
    break_glass = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField("asked", auto_now_add=True, db_index=True)
    decided_by = models.ForeignKey(
        Employee, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by_name = models.CharField("decided by", max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    grant = models.ForeignKey(
        TemporaryGrant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    valid_until = models.DateTimeField("granted until", null=True, blank=True)
    # Break-glass: the administrators' e-mail (retried until sent) and their acknowledgement
    # (until then the activation stays on the back office's index page).
    notified_at = models.DateTimeField("administrators e-mailed", null=True, blank=True)
    notice_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by_name = models.CharField("acknowledged by", max_length=150, blank=True)

    objects = AccessRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "status"], name="access_request_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(group__isnull=False, scope="")
                    | (models.Q(group__isnull=True) & ~models.Q(scope=""))
                ),
                name="access_request_group_or_scope",
                violation_error_message=(
                    "Ask for either an access group or one scope, not both and not neither."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.requester.username}: {self.what} for {span(self.duration)}"

    @property
    def what(self) -> str:
        return f"group {self.group.name}" if self.group_id else f"scope {self.scope}"


class AccessReview(models.Model):
    """A frozen snapshot of who holds what in a tenant, decided line by line (keep / revoke)
    by its reviewers. Closed when every line is decided; from then on read-only."""

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    started_by_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    started_by_id = models.CharField(max_length=150)
    started_by_name = models.CharField("started by", max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "status"], name="access_review_status_idx")]

    def __str__(self) -> str:
        return self.name


class AccessReviewLine(models.Model):
    """One thing one identity held when the review started: a group membership or a scope,
    standing or temporary. Its subject and holding are copied (the report outlives them)."""

    class Holding(models.TextChoices):
        GROUP = "group", "access group"
        SCOPE = "scope"

    class Decision(models.TextChoices):
        UNDECIDED = "", "undecided"
        KEEP = "keep"
        REVOKE = "revoke"

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="lines")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    subject_kind = models.CharField(max_length=16, choices=AccessChange.SubjectKind.choices)
    subject_id = models.CharField(max_length=150)
    subject_name = models.CharField("identity", max_length=150)
    employee = models.ForeignKey(
        Employee, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_client = models.ForeignKey(
        ApiClient, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    holding = models.CharField(max_length=8, choices=Holding.choices)
    group = models.ForeignKey(
        AccessGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group_name = models.CharField("group", max_length=150, blank=True)
    scopes = models.JSONField(default=list)
    restrictions = models.JSONField(default=list)
    # " DE FR ": the list filter finds a value with one portable ``contains``.
    restriction_words = models.CharField(max_length=1000, blank=True, editable=False)
    temporary_grant = models.ForeignKey(
        TemporaryGrant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    valid_from = models.DateTimeField("temporary from", null=True, blank=True)
    valid_until = models.DateTimeField("temporary until", null=True, blank=True)
    break_glass = models.BooleanField(default=False)
    last_token_at = models.DateTimeField("last token issued", null=True, blank=True)
    reviewer = models.ForeignKey(
        Employee, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewer_name = models.CharField("reviewer", max_length=150, blank=True)
    decision = models.CharField(
        max_length=8, choices=Decision.choices, default=Decision.UNDECIDED, blank=True
    )
    decided_by_name = models.CharField("decided by", max_length=150, blank=True)
    decided_by_id = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField("what changed", max_length=200, blank=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["review", "subject_kind", "subject_name", "pk"]
        indexes = [
            models.Index(fields=["review", "decision"], name="review_line_decision_idx"),
            models.Index(fields=["review", "reviewer"], name="review_line_reviewer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_name}: {self.held}"

    @property
    def held(self) -> str:
        if self.holding == self.Holding.GROUP:
            return f"group {self.group_name}"
        return f"scope {' '.join(self.scopes)}"

    @property
    def temporary(self) -> bool:
        return self.valid_until is not None


class SignInProvider(models.Model):
    """A tenant's identity provider, through which its employees sign in to the back office
    (OpenID Connect, authorization code flow with PKCE)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="sign_in_provider")
    name = models.CharField(
        "provider name", max_length=80, help_text='Shown as "Sign in with <name>", e.g. Okta.'
    )
    issuer = models.URLField(
        max_length=500,
        help_text="The provider's issuer URL, as its /.well-known/openid-configuration names "
        "it (e.g. https://login.microsoftonline.com/<tenant id>/v2.0).",
    )
    client_id = models.CharField("client id", max_length=255)
    client_secret = models.CharField("client secret", max_length=500)
    groups_claim = models.CharField(
        "groups claim",
        max_length=100,
        default="groups",
        help_text="The ID token claim that lists the employee's groups at the provider.",
    )
    username_claim = models.CharField(
        "username claim",
        max_length=100,
        default="preferred_username",
        help_text="The ID token claim that is the employee's username here "
        "(preferred_username, email, upn, …).",
    )
    required = models.BooleanField(
        "only through the provider",
        default=False,
        help_text="Employees of this tenant may not sign in with a password (back office and "
        "the token endpoint's password grant).",
    )
    create_employees = models.BooleanField(
        "create employees on first sign-in",
        default=False,
        help_text="Someone the provider vouches for who is not an employee here yet becomes "
        "one (staff, never a superuser), with the access groups their provider groups map to.",
    )

    objects = IdentityQuerySet.as_manager()

    class Meta:
        verbose_name = "sign-in provider"

    def __str__(self) -> str:
        return f"{self.name} ({self.tenant.code})"


class ProviderGroup(models.Model):
    """A group at the tenant's identity provider, mapped to one of the tenant's access groups:
    whoever the provider says is in it is a member of the access group (set at each sign-in)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField("provider's group", max_length=255)
    access_group = models.ForeignKey(
        AccessGroup, on_delete=models.CASCADE, related_name="provider_groups"
    )

    objects = IdentityQuerySet.as_manager()

    class Meta:
        verbose_name = "provider group mapping"
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name", "access_group"],
                name="provider_group_unique",
                violation_error_message="This provider group is already mapped to that group.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.access_group.name}"
