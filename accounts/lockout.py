"""Failed-login lockout (django-axes): what a locked-out person is told, and whose address
counts as theirs behind a proxy. Settings: AXES_* in config/settings.py, README "Configuration".
"""

import math

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def _minutes_left():
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_out(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: JSON 429 for the API, a page saying when to try again otherwise.
    Answered instead of the login page's or the token endpoint's own response."""
    minutes = _minutes_left()
    reason = (
        f"Too many failed sign-ins for this username from your address. "
        f"Try again in {minutes} minutes, or ask an admin to unlock the account."
    )
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"detail": reason, "code": "locked_out", "retry_after_seconds": minutes * 60},
            status=429,
        )
    else:
        response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def client_ip(request):
    """AXES_CLIENT_IP_CALLABLE. Behind TRUSTED_PROXY_COUNT proxies that each append the address
    they were called from to X-Forwarded-For, the client is the entry the outermost proxy
    added: that many places from the right. Entries further left are whatever the client
    sent and are never trusted. With no proxy (0), the socket's address."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR")
