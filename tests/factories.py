import factory
from factory.django import DjangoModelFactory

from accounts.models import AccessGroup, ApiClient, Employee
from tenancy.models import Restriction, Site, Tenant

DEFAULT_RESTRICTIONS = ("DE", "FR", "US")


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"tenant{n}")
    name = factory.LazyAttribute(lambda o: f"Tenant {o.code}")

    @factory.post_generation
    def restrictions(self, create, extracted, **kwargs):
        codes = DEFAULT_RESTRICTIONS if extracted is None else extracted
        for code in codes:
            Restriction.objects.get_or_create(tenant=self, code=code)

    @factory.post_generation
    def sites(self, create, extracted, **kwargs):
        codes = ("main", *DEFAULT_RESTRICTIONS) if extracted is None else extracted
        for code in codes:
            Site.objects.get_or_create(tenant=self, code=code)


class ApiClientFactory(DjangoModelFactory):
    class Meta:
        model = ApiClient
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"client{n}")
    scopes = factory.LazyFunction(lambda: ["customer.customer_read"])
    secret_hash = ""

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        self.clear_secret = self.rotate_secret()
        if extracted:
            from accounts.models import hash_client_secret

            self.clear_secret = extracted
            self.secret_hash = hash_client_secret(extracted)
        if create:
            self.save()


class AccessGroupFactory(DjangoModelFactory):
    class Meta:
        model = AccessGroup

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"group{n}")
    scopes = factory.LazyFunction(lambda: ["customer.customer_read"])
    restrictions = factory.LazyFunction(list)


class EmployeeFactory(DjangoModelFactory):
    class Meta:
        model = Employee
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    username = factory.Sequence(lambda n: f"employee{n}")
    password = factory.django.Password("correct-horse-battery")
    is_staff = True

    @factory.post_generation
    def access_groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.access_groups.set(extracted)


def employee_holding(tenant, *scopes: str, **fields) -> Employee:
    """A staff employee of ``tenant`` holding ``scopes`` for good: one standing access group per
    scope (a suffixed scope: the base scope with that restriction)."""
    groups = []
    for scope in scopes:
        base, _, restriction = scope.partition("--")
        groups.append(
            AccessGroupFactory(
                tenant=tenant, scopes=[base], restrictions=[restriction] if restriction else []
            )
        )
    return EmployeeFactory(tenant=tenant, access_groups=groups, **fields)


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = "customers.Customer"

    tenant = factory.SubFactory(TenantFactory)
    customer_number = factory.Sequence(lambda n: f"C{n:06d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    contact_email = factory.LazyAttribute(lambda o: f"{o.customer_number.lower()}@example.com")
    restriction = None


class AddressFactory(DjangoModelFactory):
    class Meta:
        model = "customers.Address"

    customer = factory.SubFactory(CustomerFactory)
    tenant = factory.LazyAttribute(lambda o: o.customer.tenant)
    contact_name = factory.Faker("name")
    street = factory.Faker("street_name")
    city = factory.Faker("city")
    country = "DE"


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = "customers.Account"

    customer = factory.SubFactory(CustomerFactory)
    tenant = factory.LazyAttribute(lambda o: o.customer.tenant)
    email = factory.LazyAttribute(lambda o: o.customer.contact_email or "x@example.com")


class RestrictionChangeFactory(DjangoModelFactory):
    class Meta:
        model = "customers.RestrictionChange"

    customer = factory.SubFactory(CustomerFactory)
    tenant = factory.LazyAttribute(lambda o: o.customer.tenant)
    customer_number = factory.LazyAttribute(lambda o: o.customer.customer_number)
    old_value = None
    new_value = "DE"
    actor_kind = "operator"
    actor_id = "seed"
    actor_name = "seed"
    channel = "command"


def themselves(employee):
    """The employee acting for themselves (asking for access, changing their own password)."""
    from accounts.principal import Principal

    return Principal.for_employee(employee, employee.tenant)
