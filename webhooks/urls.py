from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/", views.webhook_list, name="list"),
    path("webhooks/<uuid:webhook_id>/", views.webhook_detail, name="detail"),
    path("webhooks/<uuid:webhook_id>/test", views.webhook_test, name="test"),
    path("webhooks/<uuid:webhook_id>/delete", views.webhook_delete, name="delete"),
]
