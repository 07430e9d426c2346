"""WSGI entry point: `gunicorn wsgi:app`."""

from bookme import create_app

app = create_app()
