from rest_framework.routers import SimpleRouter

from sharing.api import views

router = SimpleRouter()
router.register("shares", views.ShareViewSet, basename="api-share")

urlpatterns = [*router.urls]
