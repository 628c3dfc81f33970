# One image for web, worker, beat and migrate (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# collectstatic needs settings, not secrets or a database.
RUN DJANGO_DEBUG=false SECRET_KEY=build-only ALLOWED_HOSTS=build python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 app && mkdir -p var && chown -R app var
USER app
EXPOSE 8000
CMD ["gunicorn", "trustfabric.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
