"""Who hears about a change, written to the outbox inside the change's transaction."""

import logging
import operator
from functools import reduce

from django.db import transaction
from django.db.models import Q

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
    """Who is told about `move` of `fr`, in one query, as (user id, notification mode) pairs:
    all notify_move needs, without building each user. Nothing here is guarded by the locks a
    move takes (the author never changes; following is not a move), so a move may ask before
    it takes them; submit asks after, once the request names its manager."""
    wanted = []
    if move == "submit" and fr.manager_id:
        wanted.append(Q(pk=fr.manager_id))
    if move in TELL_AUTHOR_AND_FOLLOWERS:
        # By the request's id alone: an approval asks before it has read the request.
        author = User.authored_requests.field.model.objects.filter(pk=fr.pk)
        following = User.followed_requests.through.objects.filter(featurerequest_id=fr.pk)
        wanted += [Q(pk__in=author.values("author_id")), Q(pk__in=following.values("user_id"))]
    if move == "escalate":
        wanted.append(Q(role__in=list(PRODUCT_ROLES)))
    if not wanted:
        return []
    # One filter() call: each further filter() or exclude() clones and resolves the query again.
    return list(
        User.objects.filter(
            reduce(operator.or_, wanted),
            ~Q(notification_mode=NotificationMode.NONE),
            ~Q(pk=getattr(actor, "pk", None)),
            is_active=True,
        ).values_list("pk", "notification_mode")
    )


def notify_move(fr, actor, move, *, reason="", recipients=None):
    """Queue emails about a move. Call inside the move's transaction; `recipients` are
    recipients_for(fr, actor, move) when the move read them before taking its locks."""
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
                user_id=user_id,
                request=fr,
                verb=move,
                subject=subject,
                body=body,
                daily=mode == NotificationMode.DAILY,
            )
            for user_id, mode in (
                recipients_for(fr, actor, move) if recipients is None else recipients
            )
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
