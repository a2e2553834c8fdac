"""Who hears about a change, written to the outbox inside the change's transaction."""

import logging

from django.db import transaction

from .models import PRODUCT_ROLES, Notification, NotificationMode, User

log = logging.getLogger(__name__)

# Moves the author and followers hear about.
TELL_AUTHOR_AND_FOLLOWERS = {
    "return",
    "reject",
    "escalate",
    "approve",
    "approve_product",
    "defer",
    "decline",
    "ship",
    "merge",
}
VERBS = {
    "submit": "submitted a request to your inbox",
    "return": "returned",
    "reject": "rejected",
    "escalate": "escalated",
    "approve": "approved",
    "approve_product": "approved as product-funded",
    "defer": "deferred",
    "decline": "declined",
    "ship": "shipped",
    "merge": "merged",
}


def recipients_for(fr, actor, move):
    people = {}
    if move == "submit" and fr.manager_id:
        people[fr.manager_id] = fr.manager
    if move in TELL_AUTHOR_AND_FOLLOWERS:
        people[fr.author_id] = fr.author
        for follower in fr.followers.all():
            people[follower.pk] = follower
    if move == "escalate":
        for user in User.objects.filter(role__in=list(PRODUCT_ROLES), is_active=True):
            people[user.pk] = user
    people.pop(getattr(actor, "pk", None), None)
    return [
        u for u in people.values() if u.is_active and u.notification_mode != NotificationMode.NONE
    ]


def notify_move(fr, actor, move, *, reason=""):
    """Queue emails about a move. Call inside the move's transaction."""
    if move not in VERBS:
        return []
    who = actor.display_name if actor else "Feature Budget"
    subject = f"#{fr.pk} {fr.title[:120]}: {VERBS[move]}"
    lines = [f"{who} {VERBS[move]} “{fr.title}”.", f"Status: {fr.get_status_display()}."]
    if fr.target_quarter_id and move in {"escalate", "approve", "approve_product", "defer"}:
        lines.append(f"Quarter: {fr.target_quarter.label}.")
    if reason:
        lines.append(f"Reason: {reason}")
    body = "\n".join(lines)
    made = Notification.objects.bulk_create(
        [
            Notification(
                user=user,
                request=fr,
                verb=move,
                subject=subject,
                body=body,
                daily=user.notification_mode == NotificationMode.DAILY,
            )
            for user in recipients_for(fr, actor, move)
        ]
    )
    immediate = [n.pk for n in made if not n.daily]
    if immediate:
        transaction.on_commit(lambda: _enqueue(immediate))
    return made


def _enqueue(ids):
    """Hand the notifications to Celery; if the broker is down, the sweep sends them later."""
    from .tasks import send_notifications

    try:
        send_notifications.apply_async(args=[ids], retry=False)
    except Exception:  # the broker is down: the rows stay unsent and the sweep picks them up
        log.warning("Broker unavailable; %d notification(s) left for the sweep", len(ids))
