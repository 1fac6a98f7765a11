"""Fixed-window counters in Django's default cache, and the API's rate limits.

The cache is the database cache by default and Redis when configured, both shared by every
gunicorn worker and host, so a limit holds however many processes serve requests. Never
configure a per-process cache (LocMem) in production: the limits would silently multiply.
Per-address limits count by `locker.network.client_network` (IPv6: per /64).
"""

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework import throttling

from locker.network import client_network


def _count(key: str, window: int) -> tuple[int, float]:
    """Add one to the counter `key` (one atomic step in the database cache and Redis,
    locker.cache); returns its count and when its window ends (Unix time)."""
    counter = getattr(cache, "count", None)
    if counter is not None:
        return counter(key, window)
    # A per-process cache (LocMem, only ever in tests): add and incr each hold its lock.
    now = time.time()
    cache.add(f"{key}:t", now + window, window)
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        count = 1
    return count, cache.get(f"{key}:t") or now + window


def _peek(key: str) -> tuple[int, float]:
    peek = getattr(cache, "count_peek", None)
    if peek is not None:
        return peek(key)
    values = cache.get_many([key, f"{key}:t"])
    return values.get(key, 0), values.get(f"{key}:t") or time.time()


def _wait(ends: float) -> int:
    return max(1, int(ends - time.time()) + 1)


@dataclass(frozen=True)
class Throttle:
    """At most `limit` counts per `window` seconds for each ident; the window starts at the
    ident's first count."""

    scope: str
    limit: int
    window: int  # seconds

    def _key(self, ident: str) -> str:
        digest = hashlib.sha256(ident.encode()).hexdigest()[:40]
        return f"throttle:{self.scope}:{digest}"

    def retry_after(self, ident: str) -> int | None:
        """Seconds to wait when `ident` has used up its attempts, else None."""
        count, ends = _peek(self._key(ident))
        return _wait(ends) if count >= self.limit else None

    def hit(self, ident: str) -> int | None:
        """Record one failed attempt; returns the wait when this attempt used the last one."""
        count, ends = _count(self._key(ident), self.window)
        return _wait(ends) if count >= self.limit else None

    def take(self, ident: str) -> int | None:
        """Count one attempt before it is made: None when it is within the limit, else the wait
        (and the attempt must not be made). Unlike retry_after() then hit(), simultaneous
        requests cannot all slip under the limit (the count is one atomic step)."""
        count, ends = _count(self._key(ident), self.window)
        return _wait(ends) if count > self.limit else None

    def give_back(self, ident: str) -> None:
        """Return one attempt taken with take() that turned out not to count (a right password):
        what is limited is failures, and take() counted before knowing."""
        key = self._key(ident)
        try:
            if (cache.get(key) or 0) > 0:
                cache.decr(key)
        except ValueError:  # the window ended meanwhile: nothing left to give back
            pass

    def reset(self, ident: str) -> None:
        key = self._key(ident)
        cache.delete_many([key, f"{key}:t"])


class _CountingRateThrottle(throttling.SimpleRateThrottle):
    """DRF's rate syntax and cache keys, counted in one atomic step (`_count`). DRF's own
    throttle reads a history list, appends and writes it back, so parallel requests all read
    the same history and all pass (1,000 requests on 16 threads passed a 300/min limit)."""

    _retry_after: int | None = None

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        digest = hashlib.sha256(key.encode()).hexdigest()[:40]
        count, ends = _count(f"throttle:api-{self.scope}:{digest}", self.duration)
        self._retry_after = _wait(ends) if count > self.num_requests else None
        return self._retry_after is None

    def wait(self):
        return self._retry_after


class AnonRateThrottle(_CountingRateThrottle, throttling.AnonRateThrottle):
    """LOCKER_API_RATE_ANON per client network. DRF's own address comes from the whole
    X-Forwarded-For header unless NUM_PROXIES is set, so a client could pick a new one at will.

    Also counts every API request refused for want of (valid) credentials, before its 401
    (locker.api.exception_handler): DRF checks permissions, and so authentication, before
    throttles, which left anonymous requests and guessed tokens unlimited."""

    def get_ident(self, request):
        return client_network(request)


class UserRateThrottle(_CountingRateThrottle, throttling.UserRateThrottle):
    """LOCKER_API_RATE_USER per user (per client network for a request without a user)."""

    def get_ident(self, request):
        return client_network(request)


def anonymous_request_throttled(request, view) -> int | None:
    """Count one unauthenticated API request against LOCKER_API_RATE_ANON; the seconds to wait
    when it is over the limit, else None."""
    throttle = AnonRateThrottle()
    if throttle.allow_request(request, view):
        return None
    return throttle.wait()
