"""The identity and access API, under ``/iam/<tenant>/``: the audit API's access-change log."""

from django.urls import path

from accounts.audit_api import AccessChangeListApi

urlpatterns = [
    path("access-changes", AccessChangeListApi.as_view(), name="access-change-list"),
]
