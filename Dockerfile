# syntax=docker/dockerfile:1
# BookMe image: one image for every process (web, worker, scheduler, release).
#   docker build -t bookme .
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... -e JWT_SECRET_KEY=... \
#              -e BOOKME_ENCRYPTION_KEYS=... -p 8000:8000 bookme
# Other processes: `python -m bookme.worker worker`, `python -m bookme.worker scheduler`,
# `flask db upgrade` (see compose.yaml).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: dependencies into a virtualenv -------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first (a layer that survives code changes): an editable install of an empty
# package pulls every dependency; the real code then lands in the same /app/bookme.
COPY pyproject.toml README.md ./
RUN mkdir bookme && touch bookme/__init__.py \
    && pip install --no-cache-dir --editable . \
    && rm -r bookme
# The rest of the tree as .dockerignore filters it: bookme/, migrations/, sql/, wsgi.py.
COPY . .

# --- runtime: the virtualenv, the code, an unprivileged user -----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOOKME_ENV=production \
    FLASK_APP=wsgi:app \
    PORT=8000
RUN groupadd --system --gid 10001 bookme \
    && useradd --system --uid 10001 --gid bookme --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bookme
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["sh", "-c", "exec gunicorn --config python:bookme.gunicorn_conf --bind 0.0.0.0:${PORT} wsgi:app"]
