from django.urls import path

from . import views

app_name = "budgets"
urlpatterns = [
    path("", views.current, name="current"),
    path("<str:slug>/", views.quarter_detail, name="quarter"),
    path("<str:slug>/ledger.csv", views.ledger_csv, name="ledger_csv"),
]
