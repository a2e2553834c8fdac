from celery import shared_task

from .services import reopen_due_deferrals


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def reopen_deferred_requests():
    """Hourly: deferred requests whose quarter has opened rejoin its queue at the top.
    Safe to run twice: a reopened request is no longer deferred."""
    return reopen_due_deferrals()
