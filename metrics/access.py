"""Who may read /metrics: one rule, decided before anything is measured.

- `LOCKER_METRICS_TOKEN` set: the request must carry `Authorization: Bearer <token>` (compared
  in constant time), from any address; nothing else is admitted.
- Not set: the request must come straight from an address in `LOCKER_METRICS_ALLOW` (loopback
  by default; empty admits nobody). Straight means without X-Forwarded-For, Forwarded or
  X-Real-IP: a reverse proxy on the same host connects from loopback on behalf of anyone, so a
  proxied request is never admitted by its address, whatever LOCKER_PROXY_COUNT says.

Everything refused gets the site's ordinary 404, so the endpoint is not advertised.
"""

import hmac
import ipaddress

from django.conf import settings

PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _bearer(request) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def _direct_address(request):
    if any(request.META.get(header) for header in PROXY_HEADERS):
        return None
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def scrape_allowed(request) -> bool:
    token = settings.LOCKER_METRICS_TOKEN
    if token:
        return hmac.compare_digest(_bearer(request).encode(), token.encode())
    address = _direct_address(request)
    return address is not None and any(
        address in network for network in settings.LOCKER_METRICS_ALLOW
    )
