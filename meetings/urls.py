from django.urls import path

from . import views

app_name = "meetings"
urlpatterns = [
    path("", views.meeting_list, name="list"),
    path("series/", views.series_edit, name="series"),
    path("<int:pk>/", views.meeting_detail, name="detail"),
    path("<int:pk>/decide/<int:request_id>/", views.meeting_decide, name="decide"),
    path("<int:pk>/actions/", views.action_add, name="action_add"),
    path("<int:pk>/actions/<int:item_id>/toggle/", views.action_toggle, name="action_toggle"),
]
