from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models, router
from django.db.models.expressions import Col
from django.db.models.fields.related_descriptors import ReverseManyToOneDescriptor
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils.functional import cached_property

from core import fastjson
from core.channels import CHANNEL_PHRASES, ActorKind, Channel
from core.restrictions import RESTRICTION_MAX_LENGTH
from customers.deletion import TenantCollector
from customers.querysets import (
    CustomerErasureQuerySet,
    CustomerQuerySet,
    CustomerRelatedQuerySet,
    CustomerViewQuerySet,
    JobQuerySet,
    MassReadAlertQuerySet,
    PrivacyExportQuerySet,
    RestrictionChangeQuerySet,
)
from tenancy.models import Tenant

CUSTOMER_NUMBER_PATTERN = r"^[A-Za-z0-9_-]{1,66}\Z"
validate_customer_number = RegexValidator(
    CUSTOMER_NUMBER_PATTERN,
    "A customer number is 1 to 66 letters, digits, '_' or '-'.",
    code="invalid_customer_number",
)
# Generated numbers: 10 characters from an alphabet without look-alikes, random (not sequential).
_NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def generate_customer_number() -> str:
    return "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(10))


def generate_address_id() -> str:
    return secrets.token_hex(5)


class CustomerType(models.TextChoices):
    CUSTOMER = "CUSTOMER"
    CONTACT = "CONTACT"


# Sort fields with their own index (field -> index name part); other sort fields are sorted
# after the tenant's (or restriction's) rows are found by index.
SORT_INDEXES = {
    "last_name": "last_name",
    "first_name": "first_name",
    "contact_email": "email",
    "created_at": "created",
    "modified_at": "modified",
}


class _OfTheTenant(ReverseManyToOneDescriptor):
    """``customer.addresses`` and the like: the rows of the instance's tenant as well as of
    the instance, so that what a service reads, updates or deletes through them names the
    tenant (one shard on a distributed database)."""

    @cached_property
    def related_manager_cls(self):
        manager = super().related_manager_cls

        class TenantRelatedManager(manager):
            def __init__(self, instance):
                super().__init__(instance)
                self.core_filters = {**self.core_filters, "tenant_id": instance.tenant_id}

        return TenantRelatedManager


class TenantForeignKey(models.ForeignKey):
    """A reference to a row of the same tenant: every join through it (either way) names the
    tenant on both sides too, so that a distributed database (Citus) joins the two tables on
    the tenant's shard (``tenant_id`` is how it spreads them), and the planner has the tenant
    index on both sides. Both tables have a ``tenant_id`` column."""

    related_accessor_class = _OfTheTenant

    def get_extra_restriction(self, alias, related_alias):
        if alias is None or related_alias is None:  # (a subquery's trimmed join: no pair)
            return None
        tenant = self.model._meta.get_field("tenant")
        return Exact(Col(alias, tenant), Col(related_alias, tenant))


class TenantRow(models.Model):
    """A row of one tenant's data. On a distributed database (Citus) its table is spread over
    the servers by ``tenant_id`` (``manage.py distribute_tenants``), so a save names the tenant
    as well as the id (the statement goes to the tenant's shard alone) and never writes the
    tenant (Citus refuses an update of the distribution column, even to the same value)."""

    class Meta:
        abstract = True

    def delete(self, using=None, keep_parents=False):
        """Django's delete, each of its statements naming the tenant (``TenantCollector``)."""
        if self.pk is None:
            raise ValueError(f"{self._meta.object_name} has no primary key: nothing to delete.")
        using = using or router.db_for_write(type(self), instance=self)
        collector = TenantCollector(using=using, origin=self)
        collector.collect([self], keep_parents=keep_parents)
        return collector.delete()

    delete.alters_data = True

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        values = [value for value in values if value[0].attname != "tenant_id"]
        return super()._do_update(
            base_qs.filter(tenant_id=self.tenant_id),
            using,
            pk_val,
            values,
            update_fields,
            forced_update,
        )


class Customer(TenantRow):
    # Indexed by the (tenant, id) index below, which also serves every "customers of a tenant".
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="customers", db_index=False
    )
    customer_number = models.CharField(max_length=66, validators=[validate_customer_number])
    title = models.CharField(max_length=64, null=True, blank=True)
    first_name = models.CharField(max_length=255, null=True, blank=True)
    middle_name = models.CharField(max_length=255, null=True, blank=True)
    last_name = models.CharField(max_length=255, null=True, blank=True)
    contact_email = models.EmailField(max_length=254, null=True, blank=True)
    contact_phone = models.CharField(max_length=64, null=True, blank=True)
    company = models.CharField(max_length=255, null=True, blank=True)
    preferred_language = models.CharField(max_length=16, default="en_US")
    preferred_currency = models.CharField(max_length=3, default="USD")
    preferred_site = models.CharField(max_length=64, default="main")
    type = models.CharField(max_length=16, choices=CustomerType.choices, default="CUSTOMER")
    photo_url = models.URLField(max_length=2048, null=True, blank=True)
    active = models.BooleanField(default=True)
    on_hold = models.BooleanField(default=False)
    b2b_company_registration_id = models.CharField(max_length=255, null=True, blank=True)
    # References to the legal entities (companies) the customer belongs to, as Emporix answers
    # them: [{"id", "name", "contactAssignmentId"}]. Any makes the customer B2B.
    b2b_legal_entities = fastjson.JSONField(default=list, blank=True)
    # Changed only by customers.services (audited); null = visible to unsuffixed scopes only.
    restriction = models.CharField(max_length=RESTRICTION_MAX_LENGTH, null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    mixins = fastjson.JSONField(default=dict, blank=True)
    metadata_mixins = fastjson.JSONField(default=dict, blank=True)
    # Made by ``seed_demo`` (never by the API or the back office): what ``--reset`` may remove,
    # so a customer a user created in the demo tenant survives it.
    seeded_by_demo = models.BooleanField(default=False, db_default=False, editable=False)
    # A legal hold keeps the customer from being erased (customers.services.privacy); why, in
    # the holder's words. Set and lifted only by data-protection staff.
    legal_hold = models.CharField(
        max_length=500, blank=True, default="", db_default="", editable=False
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer_number"], name="customer_unique_number_per_tenant"
            )
        ]
        # Every list shape is an index range within one tenant: the default order (id), one
        # per indexed sort field, and the restriction (a restricted list or count). The
        # restriction is included in the others so that a restricted reader's ids come from
        # the index alone (deep pages, counts). See docs/benchmarks.md for what each costs.
        # On PostgreSQL ``customer_tenant_id_idx`` is a unique constraint of ``(tenant_id, id,
        # restriction_key)`` including the restriction (migration 0030): the same range, and
        # what the customer's addresses, accounts and history refer to.
        indexes = [
            models.Index(
                fields=["tenant", "id"], include=["restriction"], name="customer_tenant_id_idx"
            ),
            models.Index(fields=["tenant", "restriction", "id"], name="customer_restriction_idx"),
            models.Index("tenant", Lower("contact_email"), name="customer_email_ci_idx"),
            *(
                models.Index(
                    fields=["tenant", field, "id"],
                    include=["restriction"],
                    name=f"customer_{name}_idx",
                )
                for field, name in SORT_INDEXES.items()
            ),
        ]

    def __str__(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return f"{self.customer_number} {name}".strip()

    @property
    def business_model(self) -> str:
        return business_model(self.b2b_company_registration_id, self.b2b_legal_entities)


def business_model(registration_id: str | None, legal_entities: list | None) -> str:
    """B2B when the customer has a company registration or belongs to a legal entity."""
    return "B2B" if registration_id or legal_entities else "B2C"


def restriction_key(restriction: str | None) -> str:
    """A customer's restriction as its addresses, accounts and restriction history carry it
    (``customer_restriction``): the value, or ``""`` for none."""
    return restriction or ""


class OfCustomer(TenantRow):
    """A row of a customer (an address, an account, a restriction change) carries the customer's
    current restriction, so that the database's row policies decide from the row alone whether
    a request may see or change it. The services that move a customer move its rows in the
    same statement (``services.checks.carry_restriction``); on PostgreSQL a foreign key of
    ``(tenant_id, customer_id, customer_restriction)`` to the customer, checked at commit,
    refuses a row naming another restriction than its customer's (migration 0030). Written on
    insert only: an update never sends it (the customer may have moved since the row was
    read)."""

    customer_restriction = models.CharField(
        max_length=RESTRICTION_MAX_LENGTH, blank=True, default="", editable=False
    )

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self._state.adding:
            self.customer_restriction = self.restriction_of_customer()
        elif kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            # (what Django would write: the loaded fields, here without the carried restriction)
            unsent = {"customer_restriction", *self.get_deferred_fields()}
            kwargs["update_fields"] = [
                field.attname
                for field in self._meta.concrete_fields
                if not field.primary_key and field.attname not in unsent
            ]
        super().save(*args, **kwargs)

    def restriction_of_customer(self) -> str | None:
        return restriction_key(self.customer.restriction)


class Address(OfCustomer):
    # (no index of its own: the table's indexes start with the tenant; one of the tenant alone
    # once made the planner check a moved customer's rows by reading all of the tenant's)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # (indexed by the address keys, which start with the tenant and the customer)
    customer = TenantForeignKey(
        Customer, on_delete=models.CASCADE, related_name="addresses", db_index=False
    )
    address_id = models.CharField(max_length=66, default=generate_address_id)
    contact_name = models.CharField(max_length=255)
    company_name = models.CharField(max_length=255, null=True, blank=True)
    street = models.CharField(max_length=255, null=True, blank=True)
    street_number = models.CharField(max_length=64, null=True, blank=True)
    street_appendix = models.CharField(max_length=255, null=True, blank=True)
    extra_line1 = models.CharField(max_length=255, null=True, blank=True)
    extra_line2 = models.CharField(max_length=255, null=True, blank=True)
    extra_line3 = models.CharField(max_length=255, null=True, blank=True)
    extra_line4 = models.CharField(max_length=255, null=True, blank=True)
    zip_code = models.CharField(max_length=32, null=True, blank=True)
    city = models.CharField(max_length=255, null=True, blank=True)
    country = models.CharField(max_length=2, null=True, blank=True)
    state = models.CharField(max_length=255, null=True, blank=True)
    contact_phone = models.CharField(max_length=64, null=True, blank=True)
    tags = fastjson.JSONField(default=list, blank=True)
    is_default = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    mixins = fastjson.JSONField(default=dict, blank=True)
    metadata_mixins = fastjson.JSONField(default=dict, blank=True)

    objects = CustomerRelatedQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer", "address_id"], name="address_unique_id_per_customer"
            ),
            models.UniqueConstraint(
                fields=["tenant", "customer"],
                condition=models.Q(is_default=True),
                name="address_one_default_per_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_name}, {self.city or ''} {self.country or ''}".strip(" ,")


class Account(OfCustomer):
    """A login e-mail of a customer profile; the e-mail is unique per tenant (stored lower-case)."""

    # (no index of its own: the table's indexes start with the tenant; one of the tenant alone
    # once made the planner check a moved customer's rows by reading all of the tenant's)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = TenantForeignKey(
        Customer, on_delete=models.CASCADE, related_name="accounts", db_index=False
    )
    email = models.EmailField(max_length=254)
    password = models.CharField(max_length=256, blank=True)
    # An imported credential of another system ({"algorithm", "hash", "context"}), kept apart
    # from ``password`` and only while the tenant's password-migration retention window lasts.
    legacy_auth = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerRelatedQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email"], name="account_unique_email")
        ]
        # A customer's accounts, and the database's check of the key to the customer (when a
        # customer's restriction moves) by its index.
        indexes = [models.Index(fields=["tenant", "customer"], name="account_customer_idx")]

    def __str__(self) -> str:
        return self.email


class PasswordMigrationRetention(models.Model):
    """A tenant's window for imported legacy credentials (``Account.legacy_auth``): importing
    them needs one that has not ended, and it cannot be removed while any are stored."""

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, primary_key=True, related_name="password_migration"
    )
    retention_end_date = models.DateField()
    email_reminder_date = models.DateField()
    email_notifications_enabled = models.BooleanField(default=True)
    modified_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Password migration until {self.retention_end_date}"


class DeletedCustomerNumber(TenantRow):
    """A customer number that was deleted: not given out again in its tenant (Emporix's
    default) unless the tenant allows reuse. Written by the delete services."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    customer_number = models.CharField(max_length=66)
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer_number"], name="deleted_customer_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.customer_number}"


def unlink_history(collector, field, sub_objs, using) -> None:
    """A deleted customer's restriction history keeps its number and the restriction it last
    carried, and loses the link (in the delete's transaction; PostgreSQL's keys check at
    commit that none is left linked). Under the row policies a history row's update is the
    manage coverage of what it carries, so whoever may delete the customer may unlink it; a
    trigger lets nothing else of the row change (migration 0030)."""
    models.SET_NULL(collector, field, sub_objs, using)


unlink_history.lazy_sub_objs = True  # (nothing to fetch: Django's collector passes a queryset)


class RestrictionChange(OfCustomer):
    """Audit of every change of a customer's restriction; written by the services only."""

    # (no index of its own: the table's indexes start with the tenant; one of the tenant alone
    # once made the planner check a moved customer's rows by reading all of the tenant's)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = TenantForeignKey(
        Customer,
        on_delete=unlink_history,
        null=True,
        related_name="restriction_changes",
        db_index=False,  # (restriction_change_idx)
    )
    # (a deleted customer's rows keep the last; null on rows unlinked before it was carried)
    customer_restriction = models.CharField(
        max_length=RESTRICTION_MAX_LENGTH, null=True, blank=True, editable=False
    )
    customer_number = models.CharField(max_length=66)
    old_value = models.CharField(max_length=RESTRICTION_MAX_LENGTH, null=True, blank=True)
    new_value = models.CharField(max_length=RESTRICTION_MAX_LENGTH, null=True, blank=True)
    actor_kind = models.CharField("by (kind)", max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    actor_name = models.CharField("by", max_length=150, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    changed_at = models.DateTimeField("when", auto_now_add=True, db_index=True)

    # visible_to: rows of customers the principal may read (a deleted customer's rows: none);
    # audited_by: what the audit API shows.
    objects = RestrictionChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [
            # A customer's history, newest first; and the database's check of the key to the
            # customer when its restriction moves (with the tenant first, one index range
            # whatever the planner knows of the table: a bulk assignment checks 10,000 a batch)
            models.Index(
                fields=["tenant", "customer", "-changed_at"], name="restriction_change_idx"
            ),
            # (the audit API's pages: a tenant's changes, newest first)
            models.Index(fields=["tenant", "-id"], name="restriction_change_tenant_idx"),
        ]
        verbose_name = "restriction change"
        verbose_name_plural = "restriction history"

    def __str__(self) -> str:
        return f"{self.customer_number}: {self.sentence()}"

    def restriction_of_customer(self) -> str | None:
        return None if self.customer_id is None else super().restriction_of_customer()

    def sentence(self) -> str:
        """The change as staff read it: "From no restriction to DE, by mover (employee), in the
        admin"."""
        old = self.old_value or "no restriction"
        new = self.new_value or "no restriction"
        who = f"{self.actor_name or self.actor_id} ({self.get_actor_kind_display()})"
        return f"From {old} to {new}, by {who}, {CHANNEL_PHRASES.get(self.channel, self.channel)}"


class JobKind(models.TextChoices):
    ASSIGN_RESTRICTION = "assign_restriction", "Assign restriction"
    DELETE_CUSTOMERS = "delete_customers", "Delete customers"
    ERASE_CUSTOMERS = "erase_customers", "Erase personal data"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Job(TenantRow):
    """A back-office bulk action too large for one request, run by a task worker in batches.

    ``last_pk`` is the keyset position of the last committed batch, so a job whose worker died
    resumes where it stopped; ``run_token`` names the run that owns the job right now.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_by_name = models.CharField("started by", max_length=150)
    target = models.CharField(
        max_length=RESTRICTION_MAX_LENGTH, null=True, blank=True, help_text="New restriction."
    )
    selection = models.JSONField(
        help_text="The ids ticked, or the search and filters of 'select all' (CustomerSelection)."
    )
    selection_label = models.CharField(max_length=500)
    # Why (an erasure's reason, kept with each erased customer's record).
    reason = models.CharField(max_length=500, blank=True, default="", db_default="")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveBigIntegerField(default=0)
    done = models.PositiveBigIntegerField(default=0)
    changed = models.PositiveBigIntegerField(default=0)
    last_pk = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    run_token = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField("requested", auto_now_add=True)
    started_at = models.DateTimeField("started", null=True, blank=True)
    # The worker's last sign of life (a job silent for long may be resumed).
    heartbeat_at = models.DateTimeField("last progress", null=True, blank=True)
    finished_at = models.DateTimeField("finished", null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="job_tenant_created_idx")]

    def __str__(self) -> str:
        what = self.get_kind_display()
        if self.kind == JobKind.ASSIGN_RESTRICTION:
            what = f"{what} {self.target or 'none'}"
        return f"{what} · {self.selection_label}"


class JobRestriction(TenantRow):
    """A restriction a job touches (its selection's values and its target): a job is visible
    only to those who may read every one of them."""

    # (the job's tenant: the row policy reads it from the row; the database holds it to the
    # job's by a foreign key of both, migration 0030)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    job = TenantForeignKey(Job, on_delete=models.CASCADE, related_name="restrictions")
    restriction = models.CharField(max_length=RESTRICTION_MAX_LENGTH, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "job", "restriction"], name="job_restriction_unique"
            )
        ]

    def __str__(self) -> str:
        return self.restriction or "— none —"


class CustomerErasure(TenantRow):
    """That a customer's personal data was erased, by whom and why: all that remains of it. Its
    number stays taken in the tenant (never given out again, whatever the tenant's reuse
    setting); its restriction then decides which suffixed scopes see the record."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    customer_number = models.CharField(max_length=66)
    restriction = models.CharField(max_length=RESTRICTION_MAX_LENGTH, null=True, blank=True)
    erased_at = models.DateTimeField("when", auto_now_add=True)
    actor_kind = models.CharField("by (kind)", max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    actor_name = models.CharField("by", max_length=150, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    reason = models.CharField(max_length=500)

    objects = CustomerErasureQuerySet.as_manager()

    class Meta:
        ordering = ["-erased_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer_number"], name="customer_erasure_unique"
            )
        ]
        verbose_name = "erasure"

    def __str__(self) -> str:
        return f"{self.customer_number}: erased by {self.actor_name or self.actor_id}"


class PrivacyExport(TenantRow):
    """A data-subject export of one customer: asked for, built by a task worker as the requester
    is then, downloaded once by the requester within ``PRIVACY_EXPORT_HOURS`` of being ready;
    the document is removed when downloaded, when it expires and when the customer is erased.
    The row stays: who asked for whose data, when, and when it was handed out."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        READY = "ready", "ready to download"
        DOWNLOADED = "downloaded", "downloaded"
        EXPIRED = "expired", "expired"
        FAILED = "failed", "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    customer_number = models.CharField(max_length=66)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    message = models.CharField(max_length=500, blank=True)
    actor_kind = models.CharField("by (kind)", max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    actor_name = models.CharField("by", max_length=150, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    purpose = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    document = models.JSONField(null=True, blank=True, editable=False)

    objects = PrivacyExportQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "customer_number"], name="privacy_export_idx")]

    def __str__(self) -> str:
        return f"Export of {self.customer_number} ({self.get_status_display()})"


class MassReadAlert(TenantRow):
    """One identity read more distinct customers than its tenant allows within the window
    (customers.mass_reads): who, how many, which (the first hundred), when; e-mailed to the
    tenant administrators (retried) and listed on their home page until one acknowledges it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    actor_kind = models.CharField("who (kind)", max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    actor_name = models.CharField("who", max_length=150, blank=True)
    raised_at = models.DateTimeField("when", auto_now_add=True)
    window_minutes = models.PositiveSmallIntegerField()
    customers = models.PositiveIntegerField("distinct customers read")
    sample = models.JSONField(default=list, help_text="The customer numbers read (at most 100).")
    notified_at = models.DateTimeField(null=True, blank=True)
    notice_attempts = models.PositiveSmallIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by_name = models.CharField(max_length=150, blank=True)

    objects = MassReadAlertQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "actor_id", "-raised_at"], name="mass_read_actor_idx")
        ]

    def __str__(self) -> str:
        return (
            f"{self.actor_name or self.actor_id} read {self.customers:,} customers in "
            f"{self.window_minutes} min"
        )


class ReadHow(models.TextChoices):
    """How a customer was served, as the read-access log says it."""

    GET = "get", "read by number"
    LIST = "list", "list page"
    SEARCH = "search", "search"
    CHANGE = "change", "answer to a change"
    ADDRESSES = "addresses", "addresses"
    ADMIN_PAGE = "admin_page", "customer page"
    ADMIN_LIST = "admin_list", "customer list"
    EXPORT = "export", "data-subject export"


class CustomerView(models.Model):
    """The read-access log: one row per customer served to a caller, per read. Append-only,
    written in the transaction that read the customers (customers.read_log), so an answered
    read is never missing from it. Keeps the number, not a link: the record outlives the
    customer."""

    # (No foreign-key constraint in the database: its check on every line of every answer is
    # a fifth of what the log costs a list page; the tenant's rows go with it through Django.)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    customer_number = models.CharField(max_length=66)
    viewed_at = models.DateTimeField("when", auto_now_add=True)
    actor_kind = models.CharField("by (kind)", max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=150)
    actor_name = models.CharField("by", max_length=150, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    how = models.CharField(max_length=16, choices=ReadHow.choices)
    expanded = models.CharField(
        max_length=200, blank=True, help_text="What the answer carried besides the profile."
    )
    purpose = models.CharField(max_length=200, blank=True)
    # The day after which the line goes (the tenant's retention, fixed when it is written); on
    # PostgreSQL the log is partitioned by month of this day and a month's partition is dropped
    # whole once it has passed (customers.read_log_store).
    keep_until = models.DateField("kept until")
    # PostgreSQL: False while the line waits in the log's unindexed inbox partition (where a
    # read writes it, cheaply), True once filed into the indexed monthly partitions. Both are
    # one table to every query.
    filed = models.BooleanField(default=False, editable=False)

    objects = CustomerViewQuerySet.as_manager()

    class Meta:
        ordering = ["-viewed_at", "-pk"]
        indexes = [
            # "Who viewed this customer" and "what did this identity look at" (by its id or its
            # name), newest first: the audit lists page by the key.
            models.Index(
                fields=["tenant", "customer_number", "-id"], name="customer_view_number_idx"
            ),
            models.Index(fields=["tenant", "actor_id", "-id"], name="customer_view_actor_idx"),
            models.Index(fields=["tenant", "actor_name", "-id"], name="customer_view_name_idx"),
        ]
        verbose_name = "customer view"
        verbose_name_plural = "who viewed customers"

    def __str__(self) -> str:
        return f"{self.customer_number}: {self.get_how_display()} by {self.actor_name}"


class JournalMark(models.Model):
    """How much of one read-log journal file is in the log (customers.read_log_journal): moved
    forward in the transaction that ships the lines, so a line is shipped once however often
    shipping is interrupted. Gone with its file."""

    file = models.CharField(max_length=255, unique=True)
    shipped = models.BigIntegerField("bytes shipped", default=0)

    def __str__(self) -> str:
        return f"{self.file}: {self.shipped:,} bytes shipped"
