"""The back office's identity pages: identities and their audit (``identities``), access over
time — temporary grants, requests and break-glass, access reviews (``access``). Importing the
package registers both."""

from accounts.admin import access, identities, sign_in
from accounts.admin.access import AccessRequestAdmin
from accounts.admin.identities import TenantAdministrationAdmin, administered_by

__all__ = [
    "AccessRequestAdmin",
    "TenantAdministrationAdmin",
    "access",
    "administered_by",
    "identities",
    "sign_in",
]
