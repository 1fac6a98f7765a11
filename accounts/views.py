from django.http import HttpResponse


def lockout_response(request, credentials, *args, **kwargs):
    return HttpResponse("Too many failed log-in attempts. Try again later.", status=429)
