"""Django with the middleware ``startproject`` writes (sessions, auth, messages, CSRF), in process.

Configured with ``settings.configure`` (Django allows that once per process), SQLite in the
bench data folder, the cached template loader (Django's default outside debug), ``DEBUG = False``.
Django's default ``CONN_MAX_AGE = 0`` is kept: it closes the database connection at the end of
each request, as a default Django project does.
"""

from __future__ import annotations

import os
import typing as t
from urllib.parse import urlsplit

from apps import JSON_BODY, PAGE_ROWS, SECRET_KEY, TEMPLATES, data_dir

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

_application: t.Any = None


def _database(db_url: str | None) -> dict[str, t.Any]:
    if not db_url or db_url.startswith("sqlite"):
        path = db_url.split("///", 1)[1] if db_url else os.path.join(data_dir(), "django.sqlite")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    parts = urlsplit(db_url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


def hello(request: t.Any) -> t.Any:
    from django.http import HttpResponse

    return HttpResponse("Hello, World!")


def json_view(request: t.Any) -> t.Any:
    from django.http import JsonResponse

    return JsonResponse(JSON_BODY)


def page(request: t.Any) -> t.Any:
    from django.shortcuts import render

    return render(request, "page.html", {"rows": PAGE_ROWS})


def items(request: t.Any) -> t.Any:
    from django.shortcuts import render

    from apps.django_items.models import Item

    rows = list(Item.objects.order_by("id")[:20])
    return render(request, "items.html", {"items": rows})


def _urlpatterns() -> list[t.Any]:
    from django.urls import path

    return [
        path("hello", hello, name="hello"),
        path("json", json_view, name="json"),
        path("page", page, name="page"),
        path("items", items, name="items"),
    ]


urlpatterns: list[t.Any] = []


def create_app(db_url: str | None = None) -> t.Any:
    """The Django WSGI handler (one per process: Django's settings are global)."""
    global _application
    if _application is not None:
        return _application
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS=["localhost", "127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "apps.django_items",
        ],
        MIDDLEWARE=MIDDLEWARE,
        DATABASES={"default": _database(db_url)},
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [os.path.join(TEMPLATES, "django")],
                "APP_DIRS": False,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    urlpatterns[:] = _urlpatterns()

    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from apps.django_items.models import Item

    if "items" not in connection.introspection.table_names():
        call_command("migrate", run_syncdb=True, verbosity=0)
    if not Item.objects.exists():
        from apps import ITEMS

        Item.objects.bulk_create(Item(id=i, name=n, price=p) for i, n, p in ITEMS)
    connection.close()
    _application = get_wsgi_application()
    return _application
