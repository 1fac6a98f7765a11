from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import audit, views

router = SimpleRouter()
router.register("tokens", views.ApiTokenViewSet, basename="api-token")
router.register("users", views.UserViewSet, basename="api-user")
router.register("audit", audit.AuditEventViewSet, basename="api-audit")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="api-me"),
    path("me/password/", views.MePasswordView.as_view(), name="api-me-password"),
    *router.urls,
]
