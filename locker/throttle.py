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


@dataclass(frozen=True)
class Throttle:
    scope: str
    limit: int
    window: int  # seconds

    def _keys(self, ident: str) -> tuple[str, str]:
        digest = hashlib.sha256(ident.encode()).hexdigest()[:40]
        return f"throttle:{self.scope}:{digest}:n", f"throttle:{self.scope}:{digest}:t"

    def retry_after(self, ident: str) -> int | None:
        """Seconds to wait when `ident` has used up its attempts, else None."""
        count_key, start_key = self._keys(ident)
        values = cache.get_many([count_key, start_key])
        if values.get(count_key, 0) < self.limit:
            return None
        started = values.get(start_key) or time.time()
        return max(1, int(started + self.window - time.time()) + 1)

    def _increment(self, ident: str) -> tuple[int, float]:
        """Add one to the count; returns it and when its window started."""
        count_key, start_key = self._keys(ident)
        now = time.time()
        cache.add(start_key, now, self.window)
        cache.add(count_key, 0, self.window)
        try:
            count = cache.incr(count_key)
        except ValueError:  # expired between add and incr: start a new window
            cache.set(start_key, now, self.window)
            cache.set(count_key, 1, self.window)
            return 1, now
        return count, cache.get(start_key) or now

    def _wait(self, started: float) -> int:
        return max(1, int(started + self.window - time.time()) + 1)

    def hit(self, ident: str) -> int | None:
        """Record one failed attempt; returns the wait when this attempt used the last one."""
        count, started = self._increment(ident)
        return self._wait(started) if count >= self.limit else None

    def take(self, ident: str) -> int | None:
        """Count one attempt before it is made: None when it is within the limit, else the wait
        (and the attempt must not be made). Unlike retry_after() then hit(), simultaneous
        requests cannot all slip under the limit (the count is one increment)."""
        count, started = self._increment(ident)
        return self._wait(started) if count > self.limit else None

    def give_back(self, ident: str) -> None:
        """Return one attempt taken with take() that turned out not to count (a right password):
        what is limited is failures, and take() counted before knowing."""
        count_key, _start_key = self._keys(ident)
        try:
            if cache.get(count_key, 0) > 0:
                cache.decr(count_key)
        except ValueError:  # the window ended meanwhile: nothing left to give back
            pass

    def reset(self, ident: str) -> None:
        cache.delete_many(list(self._keys(ident)))


class AnonRateThrottle(throttling.AnonRateThrottle):
    """LOCKER_API_RATE_ANON per client network. DRF's own address comes from the whole
    X-Forwarded-For header unless NUM_PROXIES is set, so a client could pick a new one at will."""

    def get_ident(self, request):
        return client_network(request)


class UserRateThrottle(throttling.UserRateThrottle):
    """LOCKER_API_RATE_USER per user (per client network for a request without a user)."""

    def get_ident(self, request):
        return client_network(request)
