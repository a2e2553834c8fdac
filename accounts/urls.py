from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/notifications/", views.notification_settings, name="notification_settings"),
    path("accounts/", include("django.contrib.auth.urls")),
]
