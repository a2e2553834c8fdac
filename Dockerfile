# One image for web, worker and beat (see docker-compose.yml); configuration is environment only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so editing the app does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .

# Settings refuse to start without a long SECRET_KEY when DEBUG is off; this one only lives
# for the build step and is never used to sign anything. Static files land in /app/var/staticfiles
# with the manifest that whitenoise serves at run time.
RUN DEBUG=false \
    SECRET_KEY=build-only-collectstatic-key-never-used-at-run-time-0123456789 \
    python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
 && chown -R app:app /app/var

USER app

EXPOSE 8000

# Workers, threads, timeouts and logs: gunicorn.conf.py, tuned by environment variables.
CMD ["gunicorn", "config.wsgi", "--config", "gunicorn.conf.py"]
