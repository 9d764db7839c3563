import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from core.database import serve_requests  # noqa: E402 - needs the settings configured above

serve_requests()
