from django.conf import settings


def locker(request):
    return {"LOCKER_SIGNUP": settings.LOCKER_SIGNUP}
