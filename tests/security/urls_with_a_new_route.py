"""The project's URLs plus one route nobody classified (see test_route_inventory)."""

from django.http import HttpResponse
from django.urls import path

from locker.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


def leaky_view(request, id):
    from files.models import File

    return HttpResponse(File.objects.get(public_id=id).name)  # no access check: the bug


# First: the API's last pattern serves any path without its final slash (locker/slashless.py),
# so a route added after it would never be reached.
urlpatterns = [path("api/v1/files/<uuid:id>/leak", leaky_view, name="leak"), *urlpatterns]
