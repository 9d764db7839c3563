from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.restrictions import RESTRICTION_MAX_LENGTH
from tenancy.validators import (
    validate_restriction_code,
    validate_site_code,
    validate_tenant_code,
)


class Tenant(models.Model):
    code = models.CharField(max_length=16, unique=True, validators=[validate_tenant_code])
    name = models.CharField(max_length=200)
    sync_restrictions_with_sites = models.BooleanField(
        default=False,
        help_text="New customers without a restriction take their preferred site as restriction "
        "when that site is also a valid restriction.",
    )
    # Moves with every change of the restriction tree (values and their parents), so that each
    # process knows at once when its cached copy of the tree is stale (tenancy.services). 0: the
    # tenant has never had a parent (a flat list, read without any query).
    tree_version = models.PositiveIntegerField(default=0, editable=False)
    customer_number_reuse = models.BooleanField(
        default=False,
        help_text="The number of a deleted customer may be given to a new one (Emporix refuses "
        "that by default).",
    )
    max_temporary_access = models.DurationField(
        "longest temporary access",
        default=timedelta(hours=8),
        validators=[
            MinValueValidator(timedelta(minutes=15)),
            MaxValueValidator(timedelta(days=31)),
        ],
        help_text="The longest an employee may ask for temporary access (or activate an "
        "emergency group) at a time, e.g. 08:00:00; from 15 minutes to 31 days.",
    )
    break_glass_per_day = models.PositiveSmallIntegerField(
        "emergency activations per day",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="How often one employee may activate an emergency group in 24 hours; from 1 "
        "to 50.",
    )
    mass_read_customers = models.PositiveIntegerField(
        "mass-read alert: customers",
        default=2000,
        validators=[MaxValueValidator(1_000_000)],
        help_text="Alert the tenant administrators when one identity reads more distinct "
        "customers than this within the minutes below; 0: no alerts.",
    )
    mass_read_minutes = models.PositiveSmallIntegerField(
        "mass-read alert: minutes",
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text="The window the customers above are counted in; from 1 to 1,440 minutes.",
    )
    read_log_days = models.PositiveSmallIntegerField(
        "keep the read-access log (days)",
        default=730,
        validators=[MinValueValidator(30), MaxValueValidator(3650)],
        help_text="How long the record of who read which customer is kept; from 30 days to 10 "
        "years. A change applies to reads from then on.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Site(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sites")
    code = models.CharField(max_length=64, validators=[validate_site_code])
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["tenant", "code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="site_unique_code_per_tenant")
        ]

    def __str__(self) -> str:
        return self.code


class Restriction(models.Model):
    """One value of the tenant's list of valid restrictions; with a parent, it sits below that
    value in the tenant's tree (a scope suffixed with the parent covers it, tenancy.tree)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="restrictions")
    code = models.CharField(
        max_length=RESTRICTION_MAX_LENGTH, validators=[validate_restriction_code]
    )
    name = models.CharField(max_length=200, blank=True)
    parent = models.ForeignKey(
        "self",
        # A value with values below it is not removed (services say why), unless its whole tenant
        # is deleted with it.
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="children",
        help_text="Empty: a top value. A scope suffixed with the parent covers this value too.",
    )

    class Meta:
        ordering = ["tenant", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code"], name="restriction_unique_code_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return self.code
