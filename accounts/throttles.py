"""Per-address limits on the account pages that send e-mail or take secret links.

Counters live in the shared cache (see locker.throttle), so they hold across processes, and
count per client network (locker.network: an IPv6 /64 is one address).
"""

import math

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from locker.network import client_network
from locker.throttle import Throttle

# Links carry 256-bit secrets, so guessing is hopeless; the limit keeps scanners from trying.
# Only unusable links count and are refused: a valid link always works, whatever others behind
# the same address (a company's NAT) mistyped.
BAD_LINK_THROTTLE = Throttle("accounts-bad-link", limit=30, window=900)


# Each request for an e-mail (password reset, sign-up) sends one: limit them so the pages cannot
# be used to flood someone's mailbox.
EMAIL_REQUEST_THROTTLE = Throttle("accounts-email", limit=20, window=3600)


def throttled_response(request: HttpRequest, wait: int, message_for_minutes) -> HttpResponse:
    minutes = max(1, math.ceil(wait / 60))
    message = message_for_minutes(minutes)
    response = render(request, "error.html", {"status": 429, "message": message}, status=429)
    response["Retry-After"] = str(wait)
    return response


def bad_link_throttled(request: HttpRequest) -> HttpResponse | None:
    """Count one unusable link from this address; a response when it has opened too many."""
    ident = client_network(request)
    wait = BAD_LINK_THROTTLE.retry_after(ident)
    if wait is None:
        BAD_LINK_THROTTLE.hit(ident)
        return None
    return throttled_response(
        request,
        wait,
        lambda minutes: (
            ngettext(
                "Too many invalid links were opened from your address. "
                "Try again in %(minutes)d minute.",
                "Too many invalid links were opened from your address. "
                "Try again in %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes}
        ),
    )


def email_request_throttled(request: HttpRequest) -> HttpResponse | None:
    """Count one e-mail request from this address; a response when it has made too many."""
    ident = client_network(request)
    wait = EMAIL_REQUEST_THROTTLE.retry_after(ident)
    if wait is None:
        EMAIL_REQUEST_THROTTLE.hit(ident)
        return None
    return throttled_response(
        request,
        wait,
        lambda minutes: (
            ngettext(
                "Too many e-mails were requested from your address. "
                "Try again in %(minutes)d minute.",
                "Too many e-mails were requested from your address. "
                "Try again in %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes}
        ),
    )
