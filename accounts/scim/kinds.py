"""How each SCIM resource type maps onto this service: a User is an employee, a Group an access
group. Documents are built from the stored rows; writes are calls of the identity services on
the channel ``scim``."""

from __future__ import annotations

from abc import ABC, abstractmethod

from django.db.models import Prefetch
from scim2_models import GroupMembership, Meta

from accounts.models import AccessGroup, Employee
from accounts.scim.protocol import Refusal
from accounts.scim.resources import Group, StaffEmail, StaffGroupMember, StaffName, User
from accounts.services import identities
from core.channels import Channel

WORK = "work"


class Kind(ABC):
    """How one resource type maps onto its model: documents, filters, writes."""

    name: str
    model: type
    endpoint: str
    filters: dict[str, tuple[str, bool]]  # SCIM attribute (lower case) -> (field, case exact)
    membership_attribute: str  # where a document lists the other side of a membership

    @abstractmethod
    def queryset(self, principal, *, members: bool = True):
        """The rows a provisioning principal reaches (``members``: with the other side)."""

    @abstractmethod
    def document(self, obj, base: str, *, members: bool = True):
        """The SCIM document of one row."""

    @abstractmethod
    def create(self, principal, tenant, resource):
        """A new row from a validated document, through the identity services."""

    @abstractmethod
    def replace(self, principal, obj, resource):
        """The row made what a validated document says, through the identity services."""

    def delete(self, principal, obj) -> None:
        identities.identity_delete(actor=principal, channel=Channel.SCIM, identity=obj)

    def with_defaults(self, data, current=None):
        """A request body with what it may leave out filled in (from ``current``, the stored
        document, when it replaces one)."""
        return data

    def location(self, base: str, pk) -> str:
        return f"{base}/{self.endpoint}/{pk}"

    def meta(self, obj, base: str, created=None) -> Meta:
        return Meta(resource_type=self.name, location=self.location(base, obj.pk), created=created)


class Users(Kind):
    name, model, endpoint = "User", User, "Users"
    membership_attribute = "groups"
    filters = {"username": ("username", False), "externalid": ("external_id", True)}

    def queryset(self, principal, *, members: bool = True):
        rows = Employee.objects.provisioned_by(principal).filter(is_superuser=False)
        if members:
            groups = AccessGroup.objects.provisioned_by(principal).only("pk", "name", "tenant_id")
            rows = rows.prefetch_related(Prefetch("access_groups", queryset=groups))
        return rows.order_by("pk")

    def document(self, employee: Employee, base: str, *, members: bool = True) -> User:
        name = None
        if employee.first_name or employee.last_name:
            name = StaffName(
                given_name=employee.first_name or None, family_name=employee.last_name or None
            )
        groups = None
        if members:
            groups = [
                GroupMembership(
                    value=str(group.pk),
                    ref=f"{base}/Groups/{group.pk}",
                    display=group.name,
                    type="direct",
                )
                for group in employee.access_groups.all()
                if group.tenant_id == employee.tenant_id
            ] or None
        return User(
            id=str(employee.pk),
            external_id=employee.external_id or None,
            user_name=employee.username,
            name=name,
            active=employee.is_active,
            emails=[StaffEmail(value=employee.email, type=WORK)] if employee.email else None,
            groups=groups,
            meta=self.meta(employee, base, created=employee.date_joined),
        )

    def with_defaults(self, data, current=None):
        # Leaving ``active`` out makes an active employee, or leaves it as it is.
        if isinstance(data, dict) and "active" not in data:
            return {**data, "active": current.active if current is not None else True}
        return data

    @staticmethod
    def fields(user: User) -> dict:
        emails = user.emails or []
        if len(emails) > 1:
            raise Refusal(400, "An employee has one e-mail address.", "invalidValue")
        if emails and emails[0].type not in (None, WORK):
            raise Refusal(400, "The e-mail address kept is the work address.", "invalidValue")
        name = user.name or StaffName()
        fields = {
            "username": user.user_name or "",
            "first_name": name.given_name or "",
            "last_name": name.family_name or "",
            "email": (emails[0].value or "") if emails else "",
            "external_id": user.external_id or "",
        }
        if user.active is not None:
            fields["is_active"] = user.active
        return fields

    def create(self, principal, tenant, user: User) -> Employee:
        fields = self.fields(user)
        username, email = fields.pop("username"), fields.pop("email")
        return identities.employee_create(
            actor=principal,
            channel=Channel.SCIM,
            tenant=tenant,
            username=username,
            password=None,  # they sign in through their identity provider
            is_staff=True,
            email=email,
            profile=fields,
        )

    def replace(self, principal, employee: Employee, user: User) -> None:
        identities.employee_update(
            actor=principal, channel=Channel.SCIM, employee_pk=employee.pk, fields=self.fields(user)
        )


class Groups(Kind):
    name, model, endpoint = "Group", Group, "Groups"
    membership_attribute = "members"
    filters = {"displayname": ("name", False), "externalid": ("external_id", True)}

    def queryset(self, principal, *, members: bool = True):
        rows = AccessGroup.objects.provisioned_by(principal)
        if members:
            people = Employee.objects.provisioned_by(principal).only("pk", "tenant_id")
            people = people.order_by("pk")
            rows = rows.prefetch_related(Prefetch("employees", queryset=people))
        return rows.order_by("pk")

    def document(self, group: AccessGroup, base: str, *, members: bool = True) -> Group:
        people = None
        if members:
            people = [
                StaffGroupMember(value=str(person.pk), ref=f"{base}/Users/{person.pk}", type="User")
                for person in group.employees.all()
                if person.tenant_id == group.tenant_id
            ] or None
        return Group(
            id=str(group.pk),
            external_id=group.external_id or None,
            display_name=group.name,
            members=people,
            meta=self.meta(group, base),
        )

    @staticmethod
    def member_ids(group: Group) -> set[int]:
        ids = set()
        for member in group.members or []:
            if member.type not in (None, "User"):
                raise Refusal(400, "Groups have employees as members.", "invalidValue")
            if not (member.value and member.value.isascii() and member.value.isdigit()):
                raise Refusal(400, f"No employee {member.value!r}.", "invalidValue")
            ids.add(int(member.value))
        return ids

    def create(self, principal, tenant, group: Group) -> AccessGroup:
        created = identities.access_group_save(
            actor=principal,
            channel=Channel.SCIM,
            tenant=tenant,
            group_pk=None,
            name=group.display_name or "",
            scopes=[],  # a new group grants nothing until an administrator says what
            restrictions=[],
            external_id=group.external_id or "",
        )
        members = self.member_ids(group)
        if members:
            identities.access_group_set_members(
                actor=principal, channel=Channel.SCIM, group_pk=created.pk, members=members
            )
        return created

    def replace(self, principal, stored: AccessGroup, group: Group) -> None:
        identities.access_group_save(
            actor=principal,
            channel=Channel.SCIM,
            tenant=stored.tenant,
            group_pk=stored.pk,
            name=group.display_name or "",
            scopes=stored.scopes,
            restrictions=stored.restrictions,
            external_id=group.external_id or "",
        )
        identities.access_group_set_members(
            actor=principal,
            channel=Channel.SCIM,
            group_pk=stored.pk,
            members=self.member_ids(group),
        )


KINDS = {"Users": Users(), "Groups": Groups()}
