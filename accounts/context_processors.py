from django.urls import reverse

from .models import Role


def navigation(request):
    """The navigation a signed-in user sees, by role; pages still check access themselves."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [("Home", reverse("home")), ("Requests", reverse("requests:list"))]
    if user.role in (Role.SALES_MANAGER, Role.HEAD_OF_SALES):
        items.append(("Inbox", reverse("inbox")))
    if user.is_sales or user.is_product:
        items.append(("Queue", reverse("queue")))
    if user.is_product:
        items.append(("Review", reverse("review")))
    items.append(("Roadmap", reverse("roadmap")))
    if user.role in (Role.HEAD_OF_SALES, Role.HEAD_OF_PRODUCT):
        items.append(("Meetings", reverse("meetings:list")))
    items.append(("Budget", reverse("budgets:current")))
    if user.is_product:
        items.append(("Themes", reverse("requests:themes")))
    if user.is_staff:
        items.append(("Admin", reverse("admin:index")))
    return {"nav_items": items}
