"""Our kombu transports: the embedded broker of `make run` (`CELERY_BROKER_URL=filesystem://`),
safe for many processes, and Redis with a reconnect that survives an outage (at the end).

kombu's own filesystem transport creates a message file in the queue folder and then writes it: a
consumer that lists the folder in between reads an empty or half-written file, raises
`JSONDecodeError` and the Celery worker stops ("Unrecoverable error"), or deletes it and the task
is lost. Its exchange tables are rewritten in place the same way. This subclass (registered for
the `filesystem` scheme by `register()`, which `locker/celery.py` calls, so the web server, the
worker and beat all use it) changes that:

- a message is written to `staging/`, fsynced and renamed into `queue/` (a rename is atomic on one
  file system), so a consumer sees a whole message or none;
- a consumer claims a message by renaming it into `processed/` (exactly one consumer wins), reads
  it and deletes it; a message that cannot be read is logged and moved to `bad/`, and the consumer
  goes on with the next one;
- names start with the wall-clock time in nanoseconds, zero-padded, so the queue sorts FIFO across
  processes and reboots (kombu's unpadded monotonic milliseconds do not);
- an exchange table in `control/` is rewritten whole (temporary file + rename) under a lock file,
  so readers never see a truncated table and two processes binding at once both keep theirs.

What it does not do: a message is deleted when it is handed to the worker, before its task runs,
so a worker killed mid-task loses that task (docs/workers.md: the requeue job covers it).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem, virtual
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

logger = logging.getLogger(__name__)

FOLDERS = ("queue", "staging", "processed", "bad", "control")
# A staged file this old belongs to a publisher that died before the rename: it was never sent.
STALE_STAGED_SECONDS = 3600
# A claimed file this old belongs to a consumer that died between the claim and the hand-over to
# its worker: the task never ran, so the message goes back to the queue.
STALE_CLAIM_SECONDS = 600


def transport_options(broker_dir: Path) -> dict:
    """Celery's `broker_transport_options` for a broker kept in broker_dir (folders created)."""
    for name in FOLDERS:
        (broker_dir / name).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(broker_dir / "queue"),
        "data_folder_out": str(broker_dir / "queue"),
        "staging_folder": str(broker_dir / "staging"),
        "processed_folder": str(broker_dir / "processed"),
        "bad_folder": str(broker_dir / "bad"),
        "control_folder": str(broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }


def register() -> None:
    """Make `filesystem://` and `redis://` (`rediss://`) use our transports in this process."""
    from kombu import transport

    for scheme, target in (
        ("filesystem", "locker.broker:Transport"),
        ("redis", "locker.broker:RedisTransport"),
        ("rediss", "locker.broker:RedisTransport"),
    ):
        TRANSPORT_ALIASES[scheme] = target
        transport._transport_cache.pop(scheme, None)


def _write_durably(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


class Channel(filesystem.Channel):
    def __init__(self, connection, **kwargs):
        super().__init__(connection, **kwargs)
        self._listed: dict[str, deque[str]] = {}
        self._recover_leftovers()

    def _sibling(self, option: str, name: str) -> str:
        folder = self.transport_options.get(option)
        if not folder:
            folder = os.path.join(os.path.dirname(os.path.abspath(self.data_folder_out)), name)
        os.makedirs(folder, exist_ok=True)
        return folder

    @cached_property
    def staging_folder(self) -> str:
        return self._sibling("staging_folder", "staging")

    @cached_property
    def bad_folder(self) -> str:
        return self._sibling("bad_folder", "bad")

    @cached_property
    def claim_folder(self) -> str:
        return self._sibling("processed_folder", "processed")

    # --- messages ------------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"
        staged = os.path.join(self.staging_folder, name)
        try:
            _write_durably(staged, str_to_bytes(dumps(payload)))
            os.rename(staged, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(staged)
            raise ChannelError(f"Cannot add message {name!r} to the queue folder") from exc

    def _get(self, queue):
        # The names listed last time, oldest first: a queue of thousands is listed and sorted
        # once per batch, not once per message. Later messages sort after them anyway.
        names = self._listed.get(queue)
        if not names:
            wanted = f"{queue}.msg"
            names = self._listed[queue] = deque(
                sorted(n for n in os.listdir(self.data_folder_in) if n.partition(".")[2] == wanted)
            )
        while names:
            name = names.popleft()
            claimed = os.path.join(self.claim_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            except OSError as exc:
                raise ChannelError(f"Cannot claim message {name!r}") from exc
            try:
                with open(claimed, "rb") as file:
                    raw = file.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read message {name!r}") from exc
            payload, problem = self._parse(raw)
            if problem:
                self._set_aside(claimed, name, problem)
                continue
            if not self.store_processed:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(claimed)
            return payload
        raise Empty()

    def _parse(self, raw: bytes) -> tuple[dict | None, str]:
        """The message, or the reason it cannot be delivered (checked as the worker will use it)."""
        try:
            payload = loads(bytes_to_str(raw))
            properties = payload["properties"]
            if not isinstance(properties.get("delivery_info"), dict):
                return None, "no delivery_info"
            self.Message(payload, channel=self)
        except Exception as exc:  # noqa: BLE001 - anything unreadable is set aside, never raised
            return None, f"{type(exc).__name__}: {exc}"[:200]
        return payload, ""

    def _set_aside(self, claimed: str, name: str, problem: str) -> None:
        target = os.path.join(self.bad_folder, name)
        try:
            os.rename(claimed, target)
        except OSError:
            logger.exception("Could not move unreadable broker message %s aside", name)
            with contextlib.suppress(OSError):
                os.remove(claimed)
            target = "nowhere (deleted)"
        logger.error("Unreadable broker message %s (%s); moved to %s", name, problem, target)

    def _recover_leftovers(self) -> None:
        now = time.time()
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.staging_folder):
                if now - entry.stat().st_mtime > STALE_STAGED_SECONDS:
                    with contextlib.suppress(OSError):
                        os.remove(entry.path)
        if self.store_processed:
            return  # processed/ is then an archive of delivered messages, not claims
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.claim_folder):
                stale = now - entry.stat().st_mtime > STALE_CLAIM_SECONDS
                if entry.name.endswith(".msg") and stale:
                    with contextlib.suppress(OSError):
                        os.rename(entry.path, os.path.join(self.data_folder_in, entry.name))
                        logger.warning("Broker message %s put back in the queue", entry.name)

    # --- exchange tables -----------------------------------------------------------------------

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        try:
            return [filesystem.exchange_queue_t(*row) for row in loads(bytes_to_str(data))]
        except (ValueError, TypeError) as exc:
            raise ChannelError(f"Unreadable exchange table {file}") from exc

    @contextlib.contextmanager
    def _locked_table(self, exchange) -> Iterator[tuple[Path, list]]:
        """The exchange's table, for changing in place; written back whole when it changed."""
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        try:
            with open(file.with_name(file.name + ".lock"), "a") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                queues = self.get_table(exchange)
                before = list(queues)
                yield file, queues
                if queues != before:
                    staged = file.with_name(f"{file.name}.{uuid.uuid4().hex}.tmp")
                    try:
                        _write_durably(str(staged), str_to_bytes(dumps(queues)))
                        os.replace(staged, file)
                    finally:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(staged)
        except OSError as exc:
            raise ChannelError(f"Cannot update {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._locked_table(exchange) as (_file, queues):
            if row not in queues:
                queues.insert(0, row)

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._locked_table(exchange) as (_file, queues):
            if row in queues:
                queues.remove(row)


class Transport(filesystem.Transport):
    Channel = Channel


# --- Redis ------------------------------------------------------------------------------------


class RedisQoS(kombu_redis.QoS):
    """Acknowledging or giving back a message after its connection dropped is an error Celery
    handles (a connection error), never a crash.

    When the broker connection drops, Celery cleans up (`Connection.collect()`, then `close()`):
    a channel that was waiting on BRPOP is only closed in the second step, after kombu has
    detached the transport from its connection, and its give-back then fails with
    `AttributeError: 'NoneType' object has no attribute 'hostname'`. That error is not a
    connection error, so Celery called it unrecoverable and the worker exited on a 20 s outage.
    The messages are safe without the give-back: Redis keeps each unacknowledged message until it
    is acknowledged, and any worker puts it back in its queue once the visibility timeout
    (`LOCKER_CELERY_VISIBILITY_TIMEOUT`) is over.
    """

    def _connection_gone(self) -> bool:
        transport = self.channel.connection
        return transport is None or transport.client is None

    def ack(self, delivery_tag):
        # The task of a message received before the connection dropped ends after the reconnect:
        # its channel is closed and kombu would fail with AttributeError (unrecoverable for
        # Celery). As a connection error it is what it is: "Couldn't ack", logged; Redis
        # redelivers the message after the visibility timeout (tasks are idempotent).
        if self._connection_gone():
            raise kombu_redis.redis.exceptions.ConnectionError(
                "the broker connection this message came from is closed"
            )
        return super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if self._connection_gone():
            raise kombu_redis.redis.exceptions.ConnectionError(
                "the broker connection this message came from is closed"
            )
        return super().reject(delivery_tag, requeue=requeue)

    def restore_unacked(self, client=None):
        try:
            return super().restore_unacked(client)
        except Exception as exc:  # noqa: BLE001 - the connection is gone; Redis still has them
            logger.warning(
                "Could not give %d unacknowledged message(s) back to the broker (%s: %s); it "
                "redelivers them after the visibility timeout.",
                len(self._delivered),
                type(exc).__name__,
                exc,
            )
            self._delivered.clear()
            return None


class RedisChannel(kombu_redis.Channel):
    QoS = RedisQoS


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel
