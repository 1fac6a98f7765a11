from django.conf import settings

from locker import __version__


def locker(request):
    return {"LOCKER_SIGNUP": settings.LOCKER_SIGNUP, "LOCKER_VERSION": __version__}
