"""Who is asking: the client's address, and the "address" every throttle counts by.

One place for both, so that every limit (log-in lock-out, link passwords, unknown link tokens,
e-mail requests, the API's anonymous rate, second-factor codes) sees the same client:

- `client_ip`: the client's own address. Behind LOCKER_PROXY_COUNT reverse proxies it is read
  from X-Forwarded-For, `LOCKER_PROXY_COUNT` entries from the right (each proxy appends the
  address it was connected from; anything further left was written by the client and is not
  believed). Without proxies, X-Forwarded-For is ignored.
- `client_network`: what throttles count by. An IPv6 host usually holds a whole /64 (privacy
  addresses rotate inside it, and any host can pick a new one at will), so an IPv6 /64 counts
  as one address; an IPv4 address (also when written IPv4-mapped) is itself.
"""

import ipaddress

from django.conf import settings

IPV6_PREFIX = 64
UNKNOWN = "unknown"


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from REMOTE_ADDR or an X-Forwarded-For entry (`[v6]:port`, `v4:port` too)."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _client_address(request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    proxies = settings.LOCKER_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded.strip():
        hops = [hop for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return _parse(hops[-min(proxies, len(hops))])
    return _parse(request.META.get("REMOTE_ADDR", ""))


def client_ip(request) -> str | None:
    """The client's address as text, or None when it cannot be told."""
    address = _client_address(request)
    return None if address is None else str(address)


def network_of(ip: str | None) -> str:
    """The throttling identity of an address: IPv4 itself, IPv6 its /64 network."""
    address = _parse(ip) if ip else None
    if address is None:
        return UNKNOWN
    if address.version == 6:
        network = ipaddress.IPv6Network(f"{address}/{IPV6_PREFIX}", strict=False)
        return str(network.network_address)
    return str(address)


def client_network(request) -> str:
    """What every throttle counts by."""
    return network_of(client_ip(request))


def lockout_address(request) -> str | None:
    """django-axes' client address (AXES_CLIENT_IP_CALLABLE): the same network as every other
    throttle, as an address it can store (None when unknown, as axes expects)."""
    network = client_network(request)
    return None if network == UNKNOWN else network
