#!/usr/bin/env bash
# Serve the app with a Celery worker and beat on the embedded defaults; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var
trap 'trap - INT TERM EXIT; kill 0 2>/dev/null; wait' INT TERM EXIT
$BIN/celery -A config worker --loglevel=INFO --concurrency=2 &
$BIN/celery -A config beat --loglevel=INFO --schedule var/celerybeat-schedule &
echo "Feature Budget on http://127.0.0.1:8000  (mails land in var/mail/)  Ctrl-C stops it."
$BIN/python manage.py runserver 127.0.0.1:8000 &
wait -n
