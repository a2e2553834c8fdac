import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Notification, Role, User
from budgets.services import budget_set_capacity, quarters_ensure_open
from meetings.models import MeetingSeries
from meetings.services import meetings_schedule
from requests_app.demo import seed_requests

DEMO_CAPACITY = 400

# username, first, last, role, manager username, team name
PEOPLE = [
    ("admin", "Ada", "Admin", Role.ADMIN, None, ""),
    ("hos", "Helena", "Sales", Role.HEAD_OF_SALES, None, ""),
    ("hop", "Paul", "Product", Role.HEAD_OF_PRODUCT, None, ""),
    ("pm.nora", "Nora", "Patel", Role.PRODUCT_MANAGER, None, ""),
    ("pm.omar", "Omar", "Lind", Role.PRODUCT_MANAGER, None, ""),
    ("mgr.east", "Maria", "East", Role.SALES_MANAGER, "hos", "Enterprise East"),
    ("mgr.west", "Will", "West", Role.SALES_MANAGER, "hos", "Mid-market West"),
    ("rep.east1", "Erin", "Ames", Role.SALES_REP, "mgr.east", ""),
    ("rep.east2", "Eli", "Brook", Role.SALES_REP, "mgr.east", ""),
    ("rep.east3", "Eva", "Chen", Role.SALES_REP, "mgr.east", ""),
    ("rep.west1", "Wade", "Diaz", Role.SALES_REP, "mgr.west", ""),
    ("rep.west2", "Wren", "Evans", Role.SALES_REP, "mgr.west", ""),
    ("rep.west3", "Walt", "Fox", Role.SALES_REP, "mgr.west", ""),
]


class Command(BaseCommand):
    help = "Load demo people and budgets. Running it again changes nothing."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(12)
        created = []
        with transaction.atomic():
            for username, first, last, role, manager, team in PEOPLE:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = User(
                        username=username,
                        first_name=first,
                        last_name=last,
                        email=f"{username}@example.com",
                        role=role,
                        manager=User.objects.get(username=manager) if manager else None,
                        team_name=team,
                        is_superuser=role == Role.ADMIN,
                    )
                    user.set_password(password)
                    user.full_clean()
                    user.save()
                    created.append(user)
            hop = User.objects.get(username="hop")
            current, upcoming = quarters_ensure_open()
            for quarter in (current, upcoming):
                if quarter.budget.capacity == 0:
                    budget_set_capacity(
                        quarter=quarter, capacity=DEMO_CAPACITY, actor=hop, reason="Demo data."
                    )
            requests_made = seed_requests(current, upcoming)
            # The demo's made-up history is not news: don't mail it to the demo users.
            Notification.objects.filter(sent_at__isnull=True).update(sent_at=timezone.now())
            if not MeetingSeries.objects.exists():
                series = MeetingSeries.objects.create(time_zone=settings.TIME_ZONE)
                series.extra_attendees.set(User.objects.filter(username="pm.nora"))
                meetings_schedule(series)
        if requests_made:
            self.stdout.write(f"Created {requests_made} demo feature requests.")
        if not created:
            self.stdout.write("Demo data already loaded; nothing changed (passwords unchanged).")
            return
        self.stdout.write(self.style.SUCCESS(f"Created {len(created)} demo users."))
        self.stdout.write(f"Password for every demo user: {password}")
        for user in created:
            self.stdout.write(f"  {user.username:<10} {user.get_role_display()}")
