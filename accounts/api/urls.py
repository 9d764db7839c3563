"""The identity and access API, under ``/iam/<tenant>/``: the audit API's access-change log
and access reviews."""

from django.urls import path

from accounts.api.audit import AccessChangeListApi, AccessReviewLineListApi, AccessReviewListApi

urlpatterns = [
    path("access-changes", AccessChangeListApi.as_view(), name="access-change-list"),
    path("access-reviews", AccessReviewListApi.as_view(), name="access-review-list"),
    path(
        "access-reviews/<int:reviewId>/lines",
        AccessReviewLineListApi.as_view(),
        name="access-review-line-list",
    ),
]
