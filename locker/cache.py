"""Django's database and Redis caches, plus one atomic operation the rate limits need.

`count(key, window)` adds one to a counter that lives `window` seconds from its first count and
returns the new count with the moment it expires, in one atomic step. Django's own
`add()` then `incr()` is not enough: the database cache's `incr()` reads and writes back (so
parallel requests all read the same count), and Redis' `incr()` checks that the key exists
before INCR, so a key that expires in between comes back without an expiry and counts forever.
"""

import base64
import pickle
import time
from datetime import UTC, datetime

from django.core.cache.backends.db import DatabaseCache as _DjangoDatabaseCache
from django.core.cache.backends.redis import RedisCache as _DjangoRedisCache
from django.db import IntegrityError, connections, models, router, transaction

# INCR, then give the key its expiry when it has none (it was just created, or an earlier
# non-atomic writer left it without one); returns the count and the milliseconds it has left.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
"""


# The database cache's statements; locker.cache.DatabaseCache._sql fills in the quoted names.
_SELECT = "SELECT {value}, {expires} FROM {table} WHERE {key} = %s"
_SELECT_LOCKED = _SELECT + " FOR UPDATE"
_UPDATE_VALUE = "UPDATE {table} SET {value} = %s WHERE {key} = %s"
# Compare-and-set: only while the counter still holds what was read.
_UPDATE_VALUE_IF = "UPDATE {table} SET {value} = %s WHERE {key} = %s AND {value} = %s"
_UPDATE_BOTH = "UPDATE {table} SET {value} = %s, {expires} = %s WHERE {key} = %s"
_INSERT = "INSERT INTO {table} ({key}, {value}, {expires}) VALUES (%s, %s, %s)"


class RedisCache(_DjangoRedisCache):
    def count(self, key: str, window: int) -> tuple[int, float]:
        """Add one to the counter `key`; (its count, when it expires as a Unix time)."""
        key = self.make_and_validate_key(key)
        client = self._cache.get_client(key, write=True)
        count, left_ms = client.eval(_COUNT_SCRIPT, 1, key, max(1, int(window * 1000)))
        return int(count), time.time() + int(left_ms) / 1000

    def count_peek(self, key: str) -> tuple[int, float]:
        """The counter's count and expiry without counting; (0, 0) when there is none."""
        key = self.make_and_validate_key(key)
        client = self._cache.get_client(key)
        pipeline = client.pipeline()
        pipeline.get(key)
        pipeline.pttl(key)
        value, left_ms = pipeline.execute()
        if value is None or left_ms is None or left_ms < 0:
            return 0, 0.0
        return int(value), time.time() + int(left_ms) / 1000


class DatabaseCache(_DjangoDatabaseCache):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (database alias, template) → the statement with the quoted names: see _sql().
        self._statements: dict[tuple[str, str], str] = {}

    def _encode(self, value) -> str:
        return base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")

    def _decode(self, connection, value):
        # Rows of our own cache table, written by Django's cache or by count().
        raw = base64.b64decode(connection.ops.process_clob(value).encode())
        return pickle.loads(raw)  # noqa: S301

    def _expiry(self, connection, raw) -> datetime:
        expression = models.Expression(output_field=models.DateTimeField())
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(
            connection
        )
        for converter in converters:
            raw = converter(raw, expression, connection)
        if raw.tzinfo is None:  # USE_TZ is on in Locker; be safe with a naive value anyway
            raw = raw.replace(tzinfo=UTC)
        return raw

    def _sql(self, connection, template: str) -> str:
        """`template` with {table}, {key}, {value} and {expires} replaced by the quoted names
        of the cache table and its columns; values always go as parameters. Built once per
        database and template (the counters run on every request), not per call."""
        built = self._statements.get((connection.alias, template))
        if built is None:
            quote = connection.ops.quote_name
            built = self._statements[(connection.alias, template)] = template.format(
                table=quote(self._table),
                key=quote("cache_key"),
                value=quote("value"),
                expires=quote("expires"),
            )
        return built

    # Compare-and-set rounds before count() falls back to locking the row.
    COUNT_ATTEMPTS = 3

    def count(self, key: str, window: int) -> tuple[int, float]:
        """Add one to the counter `key`; (its count, when it expires as a Unix time).

        A live counter (every request of a window but its first) costs two statements and no
        transaction: read it, then write the next count only if the row still holds what was
        read (compare-and-set on the stored value), so parallel requests each get their own
        count; one that loses the race reads again. A new window, a missing row, or a counter
        that keeps changing under us goes through `_count_locked`."""
        key = self.make_and_validate_key(key)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        select = self._sql(connection, _SELECT)
        update = self._sql(connection, _UPDATE_VALUE_IF)
        for _attempt in range(self.COUNT_ATTEMPTS):
            with connection.cursor() as cursor:
                cursor.execute(select, [key])
                row = cursor.fetchone()
                if not row:
                    break
                expires = self._expiry(connection, row[1])
                if expires <= datetime.now(tz=UTC):
                    break
                count = self._decode(connection, row[0]) + 1
                cursor.execute(update, [self._encode(count), key, row[0]])
                if cursor.rowcount == 1:
                    return count, expires.timestamp()
        return self._count_locked(connection, db, key, window)

    def _count_locked(self, connection, db: str, key: str, window: int) -> tuple[int, float]:
        """count() in one transaction that locks the row (SELECT … FOR UPDATE on PostgreSQL;
        SQLite's write transactions are serialised, Locker opens them IMMEDIATE), so parallel
        requests each get their own count. Two requests that both find no row both INSERT; the
        loser's unique-key error sends it round again, to find the winner's row."""
        template = _SELECT_LOCKED if connection.features.has_select_for_update else _SELECT
        select = self._sql(connection, template)
        for attempt in range(3):
            try:
                with transaction.atomic(using=db), connection.cursor() as cursor:
                    cursor.execute(select, [key])
                    row = cursor.fetchone()
                    now = datetime.now(tz=UTC)
                    expires = self._expiry(connection, row[1]) if row else None
                    if row and expires > now:
                        count = self._decode(connection, row[0]) + 1
                        cursor.execute(
                            self._sql(connection, _UPDATE_VALUE), [self._encode(count), key]
                        )
                        return count, expires.timestamp()
                    count = 1
                    expires = datetime.fromtimestamp(now.timestamp() + window, tz=UTC)
                    stored = connection.ops.adapt_datetimefield_value(expires)
                    if row:  # an expired counter: a new window starts
                        cursor.execute(
                            self._sql(connection, _UPDATE_BOTH), [self._encode(count), stored, key]
                        )
                    else:
                        cursor.execute(
                            self._sql(connection, _INSERT), [key, self._encode(count), stored]
                        )
                    return count, expires.timestamp()
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def count_peek(self, key: str) -> tuple[int, float]:
        """The counter's count and expiry without counting; (0, 0) when there is none."""
        key = self.make_and_validate_key(key)
        connection = connections[router.db_for_read(self.cache_model_class)]
        with connection.cursor() as cursor:
            cursor.execute(self._sql(connection, _SELECT), [key])
            row = cursor.fetchone()
        if not row:
            return 0, 0.0
        expires = self._expiry(connection, row[1])
        if expires <= datetime.now(tz=UTC):
            return 0, 0.0
        return self._decode(connection, row[0]), expires.timestamp()
