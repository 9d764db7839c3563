"""Django's admin app with the back office's own site (accounts.admin_site); named in
INSTALLED_APPS instead of ``django.contrib.admin``."""

from django.contrib.admin.apps import AdminConfig


class BackOfficeAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.BackOfficeSite"
