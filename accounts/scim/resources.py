"""What this service publishes over SCIM: the User and Group resources as it keeps them (a
subset of RFC 7643's core schemas: every attribute published is stored and given back as
sent), its configuration, resource types and schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    Filter,
    GroupMembership,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_RESULTS = 1000  # the largest page (``count``) a list answers
# JSON types as they are: "yes" is not a boolean, 3 is not a string (pydantic would convert),
# in a request body and in the values of a patch alike.
STRICT = ConfigDict(strict=True)


class StaffName(ComplexAttribute):
    model_config = STRICT

    given_name: Annotated[str | None, Field(max_length=150)] = None
    family_name: Annotated[str | None, Field(max_length=150)] = None


class StaffEmail(ComplexAttribute):
    """The one e-mail address an employee has: their work address (``primary`` and
    ``display``, which identity providers send with it, are accepted and not kept)."""

    model_config = STRICT

    value: str | None = None
    type: str | None = Field(None, examples=["work"])


class User(Resource):
    """An employee of the tenant."""

    model_config = STRICT

    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Uniqueness.server, Required.true, Field(max_length=150)] = None
    name: StaffName | None = None
    # Required: an employee is active or not (a request that leaves it out creates an active
    # employee, or leaves it as it is).
    active: Annotated[bool | None, Required.true] = None
    emails: list[StaffEmail] | None = None
    groups: Annotated[list[GroupMembership] | None, Mutability.read_only] = None


class StaffGroupMember(ComplexAttribute):
    """A member of an access group: an employee (groups do not nest)."""

    model_config = STRICT

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    # (the quotes name the resource type a member refers to)
    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])


class Group(Resource):
    """An access group of the tenant (what it grants is set in the back office)."""

    model_config = STRICT

    __schema__ = URN(GROUP_SCHEMA)

    display_name: Annotated[str | None, Required.true, Uniqueness.server, Field(max_length=150)] = (
        None
    )
    members: list[StaffGroupMember] | None = None


RESOURCES: dict[str, type[Resource]] = {"Users": User, "Groups": Group}


def service_provider_config(docs_url: str) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=docs_url,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth bearer token",
                description="The provisioning token of an API client holding "
                "iam.scim_manage (issued in the back office), or an access token of that client "
                "from the token endpoint (client credentials).",
                primary=True,
            )
        ],
    )


def resource_types() -> list[ResourceType]:
    return [ResourceType.from_resource(model) for model in RESOURCES.values()]


def schemas() -> list:
    return [model.to_schema() for model in RESOURCES.values()]
