"""Shapes of the customer JSON (Emporix camelCase). Serializers validate and shape; the
services decide."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.openapi import ErrorDetailSerializer
from core.restrictions import RESTRICTION_MAX_LENGTH
from customers import passwords
from customers.models import CUSTOMER_NUMBER_PATTERN, Customer, CustomerType
from customers.services import (
    ADDRESS_DEFAULTS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MERGED_FIELDS,
    PROFILE_DEFAULTS,
    UNSET,
)

MAX_JSON_DEPTH = 32


def validate_stored_json(value) -> None:
    """JSON stored as-is (mixins): no NUL (PostgreSQL's jsonb refuses it) and at most
    ``MAX_JSON_DEPTH`` levels, so it can always be rendered back."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise serializers.ValidationError(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(item, str) and "\x00" in item:
            raise serializers.ValidationError("NUL characters are not allowed.")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _json_object(**kwargs) -> serializers.DictField:
    return serializers.DictField(validators=[validate_stored_json], **kwargs)


class ResourceIdSerializer(serializers.Serializer):
    id = serializers.CharField()


def _type_error(field: serializers.Field, value) -> str | None:
    """Why ``value`` is not of the JSON type ``field`` takes, or None. DRF would turn a number
    into a string and "yes" into true; Emporix's schema (and so its clients) say string and
    boolean, so a client's mistake is reported instead of stored as something else."""
    if value is None:
        return None
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Must be a string."
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, serializers.IntegerField) and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        return "Must be an integer."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for item in value:
            problem = _type_error(field.child, item)
            if problem:
                return f"Every item: {problem[0].lower()}{problem[1:]}"
    return None


class StrictInputSerializer(serializers.Serializer):
    """Refuses unknown top-level fields and values of the wrong JSON type (400);
    ``ignored_fields`` are read-only and dropped."""

    ignored_fields: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields) - self.ignored_fields
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"Unknown field {name!r}."] for name in sorted(unknown)}
                )
            wrong = {
                name: [problem]
                for name, field in self.fields.items()
                if name in data and (problem := _type_error(field, data[name]))
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def _text(max_length: int, **kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=max_length, required=False, allow_null=True, allow_blank=True, **kwargs
    )


# -- addresses ----------------------------------------------------------------------------------

ADDRESS_FIELD_NAMES = {
    "contactName": "contact_name",
    "companyName": "company_name",
    "street": "street",
    "streetNumber": "street_number",
    "streetAppendix": "street_appendix",
    "extraLine1": "extra_line1",
    "extraLine2": "extra_line2",
    "extraLine3": "extra_line3",
    "extraLine4": "extra_line4",
    "zipCode": "zip_code",
    "city": "city",
    "country": "country",
    "state": "state",
    "contactPhone": "contact_phone",
    "tags": "tags",
    "isDefault": "is_default",
    "mixins": "mixins",
}


class DocumentSerializer(serializers.Serializer):
    """A response shape: properties whose value is null are left out (as Emporix answers),
    except those named in ``nullable``; the OpenAPI document marks them not required."""

    nullable: frozenset[str] = frozenset()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {
            key: value
            for key, value in data.items()
            if (value is not None and value is not UNSET) or key in self.nullable
        }


class MetadataMixinsSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    mixins = serializers.DictField(source="metadata_mixins")


class AddressSerializer(DocumentSerializer):
    id = serializers.CharField(source="address_id")
    contactName = serializers.CharField(source="contact_name")  # needed to create, kept
    companyName = serializers.CharField(source="company_name", required=False)
    street = serializers.CharField(required=False)
    streetNumber = serializers.CharField(source="street_number", required=False)
    streetAppendix = serializers.CharField(source="street_appendix", required=False)
    extraLine1 = serializers.CharField(source="extra_line1", required=False)
    extraLine2 = serializers.CharField(source="extra_line2", required=False)
    extraLine3 = serializers.CharField(source="extra_line3", required=False)
    extraLine4 = serializers.CharField(source="extra_line4", required=False)
    zipCode = serializers.CharField(source="zip_code", required=False)
    city = serializers.CharField(required=False)
    country = serializers.CharField(required=False)
    state = serializers.CharField(required=False)
    contactPhone = serializers.CharField(source="contact_phone", required=False)
    tags = serializers.ListField(child=serializers.CharField())
    isDefault = serializers.BooleanField(source="is_default")
    metadata = MetadataMixinsSerializer(source="*")
    mixins = serializers.DictField()


class MixinMetadataInputSerializer(StrictInputSerializer):
    mixins = _json_object(required=False, allow_null=True)


class AcceptsMixinMetadata(StrictInputSerializer):
    """``metadata.mixins``, also written as Emporix's mixins guide writes it:
    ``metadata.mixinMetadata.mixins``."""

    mixins = _json_object(required=False, allow_null=True)
    mixinMetadata = MixinMetadataInputSerializer(required=False, allow_null=True)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        nested = attrs.pop("mixinMetadata", None) or {}
        if "mixins" in nested:
            if "mixins" in attrs and attrs["mixins"] != nested["mixins"]:
                raise serializers.ValidationError(
                    {"mixinMetadata": ["Give the mixin links once: mixins or mixinMetadata."]}
                )
            attrs["mixins"] = nested["mixins"]
        return attrs


class AddressMetadataInputSerializer(AcceptsMixinMetadata):
    # The version is answered (it counts the address's changes) but not checked on write.
    ignored_fields = frozenset({"version"})


class AddressInputSerializer(StrictInputSerializer):
    """Address bodies. ``contactName`` is required where an address is created (the service
    says so); ``id`` is read from the body by the create view only."""

    ignored_fields = frozenset({"id"})

    contactName = _text(255)
    companyName = _text(255)
    street = _text(255)
    streetNumber = _text(64)
    streetAppendix = _text(255)
    extraLine1 = _text(255)
    extraLine2 = _text(255)
    extraLine3 = _text(255)
    extraLine4 = _text(255)
    zipCode = _text(32)
    city = _text(255)
    country = serializers.RegexField(
        r"^[A-Z]{2}\Z",
        required=False,
        allow_null=True,
        error_messages={"invalid": "country must be a two-letter ISO 3166 code such as 'DE'."},
    )
    state = _text(255)
    contactPhone = _text(64)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_LENGTH),
        required=False,
        allow_null=True,
        max_length=MAX_TAGS,
    )
    isDefault = serializers.BooleanField(required=False, allow_null=True)
    metadata = AddressMetadataInputSerializer(required=False, allow_null=True)
    mixins = _json_object(required=False, allow_null=True)

    def model_fields(self) -> dict[str, Any]:
        """Address fields in model names; null becomes the field's default (JSON objects: see
        :meth:`CustomerInputSerializer.model_fields`)."""
        fields = {}
        for name, value in self.validated_data.items():
            if name == "metadata":
                if value is None or "mixins" in value:
                    fields["metadata_mixins"] = (value or {}).get("mixins")
                continue
            field = ADDRESS_FIELD_NAMES[name]
            if value is None and field not in MERGED_FIELDS:  # as for customers
                value = ADDRESS_DEFAULTS.get(field)
            fields[field] = value
        return fields


# -- customers ----------------------------------------------------------------------------------

PROFILE_FIELD_NAMES = {
    "title": "title",
    "firstName": "first_name",
    "middleName": "middle_name",
    "lastName": "last_name",
    "contactEmail": "contact_email",
    "contactPhone": "contact_phone",
    "company": "company",
    "preferredLanguage": "preferred_language",
    "preferredCurrency": "preferred_currency",
    "preferredSite": "preferred_site",
    "type": "type",
    "photoUrl": "photo_url",
    "active": "active",
    "onHold": "on_hold",
    "mixins": "mixins",
}


class LegalEntitySerializer(serializers.Serializer):
    id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False)
    contactAssignmentId = serializers.CharField(max_length=255, required=False)


class B2BSerializer(DocumentSerializer):
    companyRegistrationId = serializers.CharField(
        source="b2b_company_registration_id", required=False
    )
    legalEntities = LegalEntitySerializer(source="b2b_legal_entities", many=True, required=False)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not data.get("legalEntities"):
            data.pop("legalEntities", None)
        return data


class MetadataSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    modifiedAt = serializers.DateTimeField(source="modified_at")
    mixins = serializers.DictField(source="metadata_mixins")


class AccountSerializer(serializers.Serializer):
    id = serializers.EmailField(source="email")


class CustomerSerializer(DocumentSerializer):
    """The response shape. ``addresses``, ``accounts`` and ``mixins`` appear only when expanded
    (context ``expand``), ``b2b`` only for a B2B customer, null properties not at all, except
    ``restriction`` (null: no restriction)."""

    nullable = frozenset({"restriction"})

    id = serializers.CharField(source="customer_number")
    customerNumber = serializers.CharField(source="customer_number")
    title = serializers.CharField(required=False)
    firstName = serializers.CharField(source="first_name", required=False)
    middleName = serializers.CharField(source="middle_name", required=False)
    lastName = serializers.CharField(source="last_name", required=False)
    contactEmail = serializers.EmailField(source="contact_email", required=False)
    contactPhone = serializers.CharField(source="contact_phone", required=False)
    company = serializers.CharField(required=False)
    preferredLanguage = serializers.CharField(source="preferred_language")
    preferredCurrency = serializers.CharField(source="preferred_currency")
    preferredSite = serializers.CharField(source="preferred_site")
    type = serializers.ChoiceField(CustomerType.choices)
    photoUrl = serializers.URLField(source="photo_url", required=False)
    active = serializers.BooleanField()
    onHold = serializers.BooleanField(source="on_hold")
    b2b = serializers.SerializerMethodField()
    businessModel = serializers.ChoiceField(["B2B", "B2C"], source="business_model")
    restriction = serializers.CharField(allow_null=True)
    metadata = MetadataSerializer(source="*")
    metadataCreatedAt = serializers.DateTimeField(source="created_at")
    defaultAddress = serializers.SerializerMethodField()
    addresses = serializers.SerializerMethodField()
    accounts = serializers.SerializerMethodField()
    mixins = serializers.SerializerMethodField()

    @extend_schema_field(B2BSerializer(required=False))
    def get_b2b(self, customer: Customer):
        return B2BSerializer(customer).data if customer.business_model == "B2B" else None

    @extend_schema_field(AddressSerializer(required=False))
    def get_defaultAddress(self, customer: Customer):
        defaults = [a for a in customer.addresses.all() if a.is_default]
        return AddressSerializer(defaults[0]).data if defaults else None

    @extend_schema_field(AddressSerializer(many=True, required=False))
    def get_addresses(self, customer: Customer):
        if "addresses" not in self.context.get("expand", ()):
            return UNSET
        return AddressSerializer(customer.addresses.all(), many=True).data

    @extend_schema_field(AccountSerializer(many=True, required=False))
    def get_accounts(self, customer: Customer):
        if "accounts" not in self.context.get("expand", ()):
            return UNSET
        return [{"id": account.email} for account in customer.accounts.all()]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_mixins(self, customer: Customer):
        names = {
            value.removeprefix("mixin:")
            for value in self.context.get("expand", ())
            if value.startswith("mixin:")
        }
        if not names:
            return UNSET
        if "*" in names:
            return customer.mixins
        return {name: value for name, value in customer.mixins.items() if name in names}


class MetadataInputSerializer(AcceptsMixinMetadata):
    ignored_fields = frozenset({"createdAt", "modifiedAt"})

    version = serializers.IntegerField(required=False, min_value=1)


class LegalEntityInputSerializer(StrictInputSerializer):
    id = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False)
    contactAssignmentId = serializers.CharField(max_length=255, required=False)


class B2BInputSerializer(StrictInputSerializer):
    companyRegistrationId = _text(255)
    legalEntities = serializers.ListField(
        child=LegalEntityInputSerializer(), required=False, allow_null=True, max_length=100
    )


class CustomerInputSerializer(StrictInputSerializer):
    """Create, upsert and patch bodies. Null resets a field to its default (merge-patch)."""

    # Read-only properties of Emporix's customer document: a client that reads a customer,
    # changes it and writes it back sends them too.
    ignored_fields = frozenset(
        {"businessModel", "metadataCreatedAt", "accounts", "addresses", "defaultAddress", "email"}
    )

    id = serializers.RegexField(
        CUSTOMER_NUMBER_PATTERN,
        required=False,
        error_messages={"invalid": "id is 1 to 66 letters, digits, '_' or '-'."},
    )
    customerNumber = serializers.RegexField(CUSTOMER_NUMBER_PATTERN, required=False)
    password = serializers.CharField(
        required=False, write_only=True, max_length=128, style={"input_type": "password"}
    )
    title = _text(64)
    firstName = _text(255)
    middleName = _text(255)
    lastName = _text(255)
    contactEmail = serializers.EmailField(required=False, allow_null=True, max_length=254)
    contactPhone = _text(64)
    company = _text(255)
    preferredLanguage = serializers.RegexField(
        r"^[a-z]{2}([_-][A-Z]{2})?\Z", required=False, allow_null=True
    )
    preferredCurrency = serializers.RegexField(
        r"^[A-Z]{3}\Z",
        required=False,
        allow_null=True,
        error_messages={"invalid": "preferredCurrency is an ISO 4217 code such as 'EUR'."},
    )
    preferredSite = serializers.CharField(max_length=64, required=False, allow_null=True)
    type = serializers.ChoiceField(CustomerType.choices, required=False, allow_null=True)
    photoUrl = serializers.URLField(max_length=2048, required=False, allow_null=True)
    active = serializers.BooleanField(required=False, allow_null=True)
    onHold = serializers.BooleanField(required=False, allow_null=True)
    b2b = B2BInputSerializer(required=False, allow_null=True)
    restriction = serializers.CharField(
        max_length=RESTRICTION_MAX_LENGTH, required=False, allow_null=True
    )
    metadata = MetadataInputSerializer(required=False, allow_null=True)
    mixins = _json_object(required=False, allow_null=True)

    def model_fields(self) -> dict[str, Any]:
        """Profile fields in model names; null becomes the field's default."""
        data = self.validated_data
        fields = {}
        for name, field in PROFILE_FIELD_NAMES.items():
            if name in data:
                value = data[name]
                # null: the default; for a JSON object, "remove it" (what that means is the
                # service's: empty when replacing, every member removed when merging)
                if value is None and field not in MERGED_FIELDS:
                    value = PROFILE_DEFAULTS[field]
                fields[field] = value
        if "b2b" in data:
            # null (or, replacing, an empty object) clears both; otherwise what is sent
            b2b = data["b2b"]
            if b2b is None or "companyRegistrationId" in b2b:
                fields["b2b_company_registration_id"] = (b2b or {}).get("companyRegistrationId")
            if b2b is None or "legalEntities" in b2b:
                fields["b2b_legal_entities"] = (b2b or {}).get("legalEntities") or []
        if "metadata" in data:
            metadata = data["metadata"]
            if metadata is None or "mixins" in metadata:  # null: no mixin links any more
                fields["metadata_mixins"] = (metadata or {}).get("mixins")
        return fields

    def requested_restriction(self):
        return self.validated_data.get("restriction", UNSET)

    def expected_version(self) -> int | None:
        return (self.validated_data.get("metadata") or {}).get("version")

    def requested_number(self) -> str | None:
        data = self.validated_data
        number, alias = data.get("id"), data.get("customerNumber")
        if number and alias and number != alias:
            raise serializers.ValidationError({"id": ["id and customerNumber differ."]})
        return number or alias


class AccountInputSerializer(StrictInputSerializer):
    email = serializers.EmailField(max_length=254)


class SearchInputSerializer(StrictInputSerializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The query language, as the list's `q` parameter: space-separated "
        "`field:value` terms that must all hold, e.g. `lastName:~^Ku restriction:(DE,FR)` "
        "(docs/query-language.md).",
    )


LEGACY_ALGORITHMS = ["hybris-sha512-uid-salt"]


class LegacyAuthSerializer(StrictInputSerializer):
    algorithm = serializers.ChoiceField(LEGACY_ALGORITHMS)
    hash = serializers.CharField(max_length=1024)
    context = serializers.DictField(
        child=serializers.CharField(max_length=1024, allow_blank=True),
        required=False,
        validators=[validate_stored_json],
    )

    def validate_context(self, value: dict) -> dict:
        if len(value) > 20:
            raise serializers.ValidationError("At most 20 context entries.")
        return value


class ImportAccountSerializer(StrictInputSerializer):
    email = serializers.EmailField(max_length=254)
    passwordHash = serializers.CharField(required=False, max_length=256)
    legacyAuth = LegacyAuthSerializer(required=False)

    def validate_passwordHash(self, value: str) -> str:
        """The Emporix format (``1:<iterations>:<salt>:<hash>``) or a configured Django
        hasher's (``pbkdf2_sha256$…``) within its cost bounds (customers.passwords); stored
        in the form Django verifies."""
        try:
            return passwords.imported_hash(value)
        except passwords.UnverifiableHash as exc:
            raise serializers.ValidationError(
                f"passwordHash is not a hash this service can verify: {exc}."
            ) from exc

    def validate(self, attrs):
        if ("passwordHash" in attrs) == ("legacyAuth" in attrs):
            raise serializers.ValidationError(
                "Give exactly one of passwordHash or legacyAuth in the account."
            )
        return attrs


class CustomerImportItemSerializer(CustomerInputSerializer):
    """An import item: a customer with exactly one login account and its credentials.
    ``contactEmail``, when given, is the account's e-mail (any case); omitted, it is taken
    from it."""

    password = None  # imported accounts carry a hash, never a password
    account = ImportAccountSerializer()

    def validate(self, attrs):
        email = attrs["account"]["email"]
        contact = attrs.get("contactEmail")
        if contact is None:
            attrs["contactEmail"] = email
        elif contact.lower() != email.lower():
            raise serializers.ValidationError(
                {"contactEmail": ["contactEmail must be the account's e-mail."]}
            )
        return attrs


class ImportResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField(required=False)
    code = serializers.IntegerField()
    status = serializers.CharField()
    message = serializers.CharField(required=False)
    details = ErrorDetailSerializer(many=True, required=False)


class PasswordMigrationRetentionSerializer(StrictInputSerializer):
    retentionEndDate = serializers.DateField(source="retention_end_date")
    emailReminderDate = serializers.DateField(source="email_reminder_date", required=False)
    emailNotificationsEnabled = serializers.BooleanField(
        source="email_notifications_enabled", required=False, default=True
    )
