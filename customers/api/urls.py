from django.urls import path, register_converter

from customers.api import addresses, audit, customers, imports, privacy
from customers.models import CUSTOMER_NUMBER_PATTERN


class IdentifierConverter:
    """Customer numbers and address ids: anything else cannot exist, so it is a plain 404."""

    regex = CUSTOMER_NUMBER_PATTERN.removeprefix("^").removesuffix("\\Z")

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdentifierConverter, "identifier")


# `search` and `import` are reserved customer numbers, so their routes come first.
urlpatterns = [
    path("customers", customers.CustomerCollectionApi.as_view(), name="customer-list"),
    path("customers/search", customers.CustomerSearchApi.as_view(), name="customer-search"),
    path("customers/import", imports.CustomerImportApi.as_view(), name="customer-import"),
    path(
        "restriction-changes",
        audit.RestrictionChangeListApi.as_view(),
        name="restriction-change-list",
    ),
    path("erasures", audit.ErasureListApi.as_view(), name="erasure-list"),
    path(
        "config/password-migration-retention",
        imports.PasswordMigrationRetentionApi.as_view(),
        name="password-migration-retention",
    ),
    path(
        "customers/<identifier:customerNumber>",
        customers.CustomerDetailApi.as_view(),
        name="customer-detail",
    ),
    path(
        "customers/<identifier:customerNumber>/accounts/internal",
        customers.CustomerAccountApi.as_view(),
        name="customer-account",
    ),
    path(
        "customers/<identifier:customerNumber>/restriction-changes",
        audit.CustomerRestrictionChangeListApi.as_view(),
        name="customer-restriction-change-list",
    ),
    path(
        "customers/<identifier:customerNumber>/erasure",
        privacy.CustomerErasureApi.as_view(),
        name="customer-erasure",
    ),
    path(
        "customers/<identifier:customerNumber>/privacy-export",
        privacy.CustomerPrivacyExportApi.as_view(),
        name="customer-privacy-export",
    ),
    path(
        "privacy-exports/<int:exportId>",
        privacy.PrivacyExportApi.as_view(),
        name="privacy-export",
    ),
    path(
        "privacy-exports/<int:exportId>/document",
        privacy.PrivacyExportDocumentApi.as_view(),
        name="privacy-export-document",
    ),
    path(
        "customers/<identifier:customerNumber>/legal-hold",
        privacy.CustomerLegalHoldApi.as_view(),
        name="customer-legal-hold",
    ),
    path(
        "customers/<identifier:customerNumber>/views",
        audit.CustomerViewsOfCustomerApi.as_view(),
        name="customer-view-list-of-customer",
    ),
    path(
        "customers/<identifier:customerNumber>/addresses",
        addresses.AddressCollectionApi.as_view(),
        name="address-list",
    ),
    path(
        "customers/<identifier:customerNumber>/addresses/<identifier:addressId>",
        addresses.AddressDetailApi.as_view(),
        name="address-detail",
    ),
    path(
        "customers/<identifier:customerNumber>/addresses/<identifier:addressId>/tags",
        addresses.AddressTagsApi.as_view(),
        name="address-tags",
    ),
]
