"""The production WSGI application with two more routes, for ``bench/load.py`` only, served by
the same gunicorn, settings and middleware as the service:

- ``/stock/{tenant}/customers/{number}``: a stock DRF get by number (``RetrieveAPIView`` +
  ``ModelSerializer``, no authentication, ``bench/read_path.py``'s baseline), through a
  connection of its own (``STOCK_DATABASE_URL``: the superuser, whom the row policies do not
  bind, in autocommit as Django's default): what a get costs the framework on this machine;
- ``/unlogged/customer/{tenant}/customers/{number}``: the service's own get with the read-access
  log switched off for the request (a sync worker serves one request at a time): what the log's
  durable write costs under load.

    gunicorn -c config/gunicorn.py --pythonpath bench stock_wsgi:application
"""

from __future__ import annotations

import os

import dj_database_url
from django.conf import settings
from django.db import connections
from django.urls import include, path
from read_path import STOCK, baseline_views, without_the_read_log

from config.wsgi import application  # (sets Django up; first of this project's imports)
from customers.api.customers import CustomerDetailApi

_url = dj_database_url.parse(os.environ["STOCK_DATABASE_URL"])
connections.settings[STOCK] = {
    **connections.settings["default"],
    **{key: _url[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
    "ATOMIC_REQUESTS": False,
}

_, _, stock = baseline_views()
_detail = CustomerDetailApi.as_view()


def unlogged(request, **kwargs):
    return without_the_read_log(lambda: _detail(request, **kwargs))()


urlpatterns = [
    path("stock/<str:tenant>/customers/<str:customer_number>", stock),
    path("unlogged/customer/<str:tenant>/customers/<str:customerNumber>", unlogged),
    path("", include(settings.ROOT_URLCONF)),
]
settings.ROOT_URLCONF = __name__

__all__ = ["application"]
