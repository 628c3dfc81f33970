# One image for web, worker, beat and migrate (see docker-compose.yml).
# Base image: for a release pass PYTHON_IMAGE=python:3.11-slim@sha256:<digest> (resolve it with
# `docker buildx imagetools inspect python:3.11-slim`); the build here is offline, so the
# default is the tag and `make verify-supply-chain` reports base_image_pinned_by_digest=false.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# Every distribution pinned with its sha256 (make lock); nothing unlocked can come in.
COPY requirements.lock .
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY . .
# collectstatic needs settings, not secrets or a database.
RUN DJANGO_DEBUG=false SECRET_KEY=build-only ALLOWED_HOSTS=build python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 app && mkdir -p var && chown -R app var
USER app
EXPOSE 8000
CMD ["gunicorn", "-c", "ops/gunicorn.conf.py", "trustfabric.wsgi"]
