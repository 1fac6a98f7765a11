from django.urls import path

from files import views

app_name = "files"

urlpatterns = [
    path("", views.root_page, name="root"),
    path("folders/<uuid:folder_id>/", views.folder_page, name="folder"),
    path("search/", views.search_page, name="search"),
    path("trash/", views.trash_page, name="trash"),
]
