from django.urls import reverse


def navigation(request):
    """The navigation a signed-in user sees, by role; pages still check access themselves."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [("Home", reverse("home")), ("Budget", reverse("budgets:current"))]
    if user.is_staff:
        items.append(("Admin", reverse("admin:index")))
    return {"nav_items": items}
