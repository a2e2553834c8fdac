from django.contrib import admin
from django.urls import include, path

from accounts.views import healthz

admin.site.site_header = "Feature Budget administration"
admin.site.site_title = "Feature Budget admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("budget/", include("budgets.urls")),
    path("", include("accounts.urls")),
]
