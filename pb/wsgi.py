"""The WSGI application (gunicorn: `pb.wsgi:application`).

Once Django is set up and the URLconf loaded, everything allocated so far lives as long as the process: it
is moved out of the garbage collector's sight (`gc.freeze()`, as the Python documentation suggests for
long-running servers), so the collections that request handling triggers scan only what requests create.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pb.settings")
application = get_wsgi_application()


def _freeze_startup_objects() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - import every view module now, not on the first request
    gc.collect()
    gc.freeze()


_freeze_startup_objects()
