from django.urls import path

from . import views

app_name = "budgets"
urlpatterns = [
    path("", views.current, name="current"),
    path("<str:slug>/", views.quarter_detail, name="quarter"),
]
