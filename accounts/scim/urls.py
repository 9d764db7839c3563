"""``/scim/v2/<tenant>/``: SCIM 2.0 provisioning (RFC 7644 §3.2's endpoints)."""

from django.urls import path, re_path

from accounts.scim import views

urlpatterns = [
    path("", views.NotFoundApi.as_view(), name="scim-root"),
    path("ServiceProviderConfig", views.ServiceProviderConfigApi.as_view(), name="scim-config"),
    path("ResourceTypes", views.DiscoveryListApi.as_view(what="ResourceTypes")),
    path("ResourceTypes/<str:pk>", views.DiscoveryListApi.as_view(what="ResourceTypes")),
    path("Schemas", views.DiscoveryListApi.as_view(what="Schemas")),
    path("Schemas/<str:pk>", views.DiscoveryListApi.as_view(what="Schemas")),
    path(".search", views.SearchEveryTypeApi.as_view()),
]
for endpoint in views.KINDS:
    urlpatterns += [
        path(f"{endpoint}", views.ResourceListApi.as_view(kind_name=endpoint)),
        path(f"{endpoint}/.search", views.ResourceSearchApi.as_view(kind_name=endpoint)),
        path(f"{endpoint}/<str:pk>", views.ResourceDetailApi.as_view(kind_name=endpoint)),
    ]
urlpatterns.append(re_path(r"^(?P<rest>.+)$", views.NotFoundApi.as_view()))
