from celery import shared_task
from django.utils import timezone

from .models import Quarter
from .services import budget_expire, quarters_ensure_open


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def roll_quarters():
    """Hourly: make sure the current and next quarters exist; close the ones a week past
    their end. Safe to run any number of times (closing is idempotent)."""
    today = timezone.localdate()
    quarters_ensure_open(today)
    closed = []
    for quarter in Quarter.objects.filter(closed_at__isnull=True, end_date__lt=today):
        if today >= quarter.closes_on and budget_expire(quarter=quarter, today=today):
            closed.append(quarter.slug)
    return closed
