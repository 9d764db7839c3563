from django.urls import path

from customers.api import views

# `search` and `import` are reserved customer numbers, so their routes come first.
urlpatterns = [
    path("customers", views.CustomerCollectionApi.as_view(), name="customer-list"),
    path("customers/search", views.CustomerSearchApi.as_view(), name="customer-search"),
    path("customers/import", views.CustomerImportApi.as_view(), name="customer-import"),
    path(
        "customers/<str:customer_number>", views.CustomerDetailApi.as_view(), name="customer-detail"
    ),
    path(
        "customers/<str:customer_number>/accounts/internal",
        views.CustomerAccountApi.as_view(),
        name="customer-account",
    ),
    path(
        "customers/<str:customer_number>/addresses",
        views.AddressCollectionApi.as_view(),
        name="address-list",
    ),
    path(
        "customers/<str:customer_number>/addresses/<str:address_id>",
        views.AddressDetailApi.as_view(),
        name="address-detail",
    ),
    path(
        "customers/<str:customer_number>/addresses/<str:address_id>/tags",
        views.AddressTagsApi.as_view(),
        name="address-tags",
    ),
]
