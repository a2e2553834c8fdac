from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts.views import bench_floor, healthz
from requests_app import views as request_views

admin.site.site_header = "Feature Budget administration"
admin.site.site_title = "Feature Budget admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api")),
    path("budget/", include("budgets.urls")),
    path("requests/", include("requests_app.urls")),
    path("inbox/", request_views.inbox, name="inbox"),
    path("queue/", request_views.queue, name="queue"),
    path("review/", request_views.review, name="review"),
    path("review/export.csv", request_views.review_csv, name="review_csv"),
    path("review/<int:pk>/estimate/", request_views.review_estimate, name="review_estimate"),
    path("review/<int:pk>/decide/", request_views.review_decide, name="review_decide"),
    path("roadmap/", request_views.roadmap, name="roadmap"),
    path("meetings/", include("meetings.urls")),
    path("", include("accounts.urls")),
]

if settings.BENCH_FLOOR:
    # The framework floor for `make bench`: a signed-in page through the same middleware,
    # context processors and base template as every page, with nothing of its own.
    urlpatterns.insert(0, path("bench/floor/", bench_floor, name="bench_floor"))
