from django.urls import path
from rest_framework.routers import SimpleRouter

from sharing.api import views

router = SimpleRouter()
router.register("shares", views.ShareViewSet, basename="api-share")
router.register("upload-links", views.UploadLinkViewSet, basename="api-upload-link")

urlpatterns = [
    path("send/", views.SendView.as_view(), name="api-send"),
    *router.urls,
]
