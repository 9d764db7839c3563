"""Data-subject exports: the task that builds one (customers.services.privacy does the work).

``privacy_export_request`` records the request and enqueues :func:`build_privacy_export`. The
worker builds the document as the requester is *now* (a requester who lost access or the
customer since gets a failed export, never the data), under a row-security context of the
requester's privacy scope. The requester downloads it once, within ``PRIVACY_EXPORT_HOURS``;
the document is removed then.
"""

from __future__ import annotations

from django.db import transaction
from django_tasks import task

from accounts import rowsecurity


def enqueue(export_id: int) -> None:
    transaction.on_commit(lambda: build_privacy_export.enqueue(export_id))


@task()
def build_privacy_export(export_id: int) -> str:
    from customers.services.privacy import privacy_export_build

    reason = f"data-subject export {export_id} (claiming and recording it)"
    with rowsecurity.session_context(rowsecurity.ALL_TENANTS, reason=reason):
        return privacy_export_build(export_id)
