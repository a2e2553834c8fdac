from django.urls import path

from . import views

app_name = "requests"
urlpatterns = [
    path("", views.request_list, name="list"),
    path("new/", views.request_new, name="new"),
    path("similar/", views.similar, name="similar"),
    path("themes/", views.themes, name="themes"),
    path("<int:pk>/", views.request_detail, name="detail"),
    path("<int:pk>/edit/", views.request_edit, name="edit"),
    path("<int:pk>/deals/", views.deal_add, name="deal_add"),
    path("<int:pk>/comments/", views.comment_add, name="comment_add"),
    path("<int:pk>/notes/", views.note_add, name="note_add"),
    path("<int:pk>/follow/", views.follow, name="follow"),
    path("<int:pk>/<str:action>/", views.request_move, name="move"),
]
