from rest_framework.routers import SimpleRouter

from webhooks.api import views

router = SimpleRouter()
router.register("webhooks", views.WebhookViewSet, basename="api-webhook")

urlpatterns = router.urls
