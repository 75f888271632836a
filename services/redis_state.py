"""Redis clients for shared state: short timeouts and one retry, so trouble is a quick answer, never a hang.

Redis failures are translated here, once: every command, script and pipeline of the guarded client raises our
RedisUnavailableError (a 503 ServiceUnavailableError) instead of redis-py's errors, so callers catch our error.
"""

import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.connection import DefaultParser
from redis.exceptions import NoScriptError
from redis.retry import Retry

from core.errors import RedisUnavailableError
from core.readiness import readable_now

# A frozen Redis (SIGSTOP) accepts connections and never answers: two 0.3 s attempts stay under a second.
REDIS_OPTIONS = {
    "socket_timeout": 0.3,
    "socket_connect_timeout": 0.3,
    "retry": Retry(NoBackoff(), 1),
    "health_check_interval": 0,
}


class Parser(DefaultParser):  # hiredis's (requirements.txt): its reader parses in C
    """redis-py's parser, whose check that a pooled connection is clean before each command (nothing unread, not
    closed) asks one real poll(2) when nothing is buffered, instead of a poll object of the gevent hub."""

    def can_read(self, timeout=0):
        sock = self._sock
        if timeout or sock is None or self._reader is None or self._reader.has_data():
            return super().can_read(timeout)
        if hasattr(sock, "pending") and sock.pending():  # TLS may hold decrypted bytes
            return super().can_read(timeout)
        return readable_now(sock) and super().can_read(timeout)  # nothing buffered, nothing on the socket: clean


BREAK_FOR_S = 5.0


class Breaker:
    """After a Redis failure, further calls fail at once for a few seconds, then one is let through to try.

    A frozen Redis costs each call its timeout; with several Redis steps per request (slot, budget, usage,
    session) that would add up to seconds. Failing fast keeps every answer (503, or fail-open) quick.
    """

    def __init__(self, seconds=BREAK_FOR_S, clock=time.monotonic):
        self.seconds, self.clock, self.open_until = seconds, clock, 0.0

    def call(self, fn, *args, **kwargs):
        if self.clock() < self.open_until:
            raise redis.ConnectionError("Redis failed a moment ago; not asking again yet")
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError):  # not a command's own error (e.g. NOSCRIPT)
            self.open_until = self.clock() + self.seconds
            raise


def translated(breaker, fn, *args, **kwargs):
    """`fn` through the breaker; redis-py's failures as our RedisUnavailableError (its cause kept)."""
    try:
        return breaker.call(fn, *args, **kwargs)
    except NoScriptError:
        raise  # redis-py's Script loads the script and calls again on this one
    except redis.RedisError as exc:
        raise RedisUnavailableError() from exc


SKIP_REPLY = b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"  # CLIENT REPLY SKIP, packed once


def _evalsha(connection, script, keys, args):
    connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return connection.read_response()
    except NoScriptError:  # Redis restarted or flushed its scripts: EVAL loads it again
        connection.send_command("EVAL", script.script, len(keys), *keys, *args)
        return connection.read_response()


class GuardedRedis(redis.Redis):
    """A Redis client whose commands, scripts and pipelines go through a Breaker and raise our error."""

    def __init__(self, *args, breaker=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.breaker = breaker or Breaker()

    def execute_command(self, *args, **options):
        return translated(self.breaker, super().execute_command, *args, **options)

    def run_script(self, script, keys, args):
        """Run a registered Script (EVALSHA; EVAL when Redis has lost it) and return its reply.

        redis-py's own way of sending one command, on one pooled connection tried again once on a new socket if
        it failed (as REDIS_OPTIONS' one retry), without the layers redis-py 8 wraps around each command (retry
        closures, response callbacks, observability records): 9 µs less of the worker's CPU for the admission
        every model call waits on (79 → 70 µs with the settlement, measured under gevent).
        """
        return translated(self.breaker, self._run_script, script, keys, args)

    def _run_script(self, script, keys, args):
        pool = self.connection_pool
        connection = pool.get_connection()
        try:
            try:
                return _evalsha(connection, script, keys, args)
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()  # the next send connects again
                return _evalsha(connection, script, keys, args)
        finally:
            pool.release(connection)

    def send_without_reply(self, *command):
        """Send one command and do not wait: `CLIENT REPLY SKIP` before it tells Redis to answer nothing.

        Redis runs a connection's commands in the order they arrive, and it reads connections in the order their
        bytes came, so anything this worker (or a client it answered) sends afterwards sees the command's effect.
        What is lost is only the reply, and with it a script's own error: such a command must not depend on it.
        """
        return translated(self.breaker, self._send_skipping_reply, command)

    def _send_skipping_reply(self, command):
        connection = self.connection_pool.get_connection()
        try:
            connection.send_packed_command([SKIP_REPLY + b"".join(connection.pack_command(*command))])  # one write
        finally:
            self.connection_pool.release(connection)

    def pipeline(self, transaction=True, shard_hint=None):
        pipe = super().pipeline(transaction, shard_hint)
        plain_execute = pipe.execute
        pipe.execute = lambda raise_on_error=True: translated(self.breaker, plain_execute, raise_on_error)
        return pipe


POOL_WAIT_S = 1.0


class PoolBusy(redis.RedisError):
    """Every connection of this worker's pool was in use for POOL_WAIT_S: the worker is busy, Redis is not down."""


class BoundedPool(redis.ConnectionPool):
    """At most `max_connections` sockets per worker; a caller beyond that waits its turn (up to POOL_WAIT_S).

    A gevent worker runs thousands of calls at once: with redis-py's default pool each would open a connection
    of its own to Redis at a burst. A Redis step takes a fraction of a millisecond, so a few dozen sockets serve
    them all; waiting for one is not Redis failing, so it is not a ConnectionError (the breaker stays closed).

    Handing a connection out and taking it back skip redis-py's per-command bookkeeping (two locks, four
    observability counters, an event dispatch: 40 µs of a worker's CPU per command, more than the command's
    round trip): a pooled connection is still checked (connected, nothing unread) before each use.
    """

    def __init__(self, *args, max_connections=64, **kwargs):
        super().__init__(*args, max_connections=max_connections, **kwargs)
        self._freed = threading.Condition()
        self._waiting = 0

    def get_connection(self, *args, **kwargs):
        self._checkpid()
        connection = self._idle_or_new()
        try:
            connection.connect()  # at once when connected
            if _unclean(connection):  # stray bytes, or closed by Redis: a new socket, checked again
                connection.disconnect()
                connection.connect()
                if connection.can_read():
                    raise redis.ConnectionError("Connection not ready")
        except BaseException:
            self.release(connection)
            raise
        self._in_use_connections.add(connection)
        return connection

    def _idle_or_new(self):
        """An idle connection, a new one while fewer than max_connections exist, else wait for one to come back."""
        try:
            return self._available_connections.pop()
        except IndexError:
            pass
        with self._lock:
            if self._created_connections < self.max_connections:
                return self.make_connection()
        deadline = time.monotonic() + POOL_WAIT_S
        with self._freed:
            self._waiting += 1  # before looking again: a connection given back from now on notifies
            try:
                while True:
                    try:
                        return self._available_connections.pop()
                    except IndexError:  # none yet, or another caller took the one given back first
                        pass
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._freed.wait(left):
                        raise PoolBusy(f"all {self.max_connections} Redis connections of this worker are in use")
            finally:
                self._waiting -= 1

    def release(self, connection):
        self._in_use_connections.discard(connection)
        if connection.pid != self.pid:  # made before a fork: not this process's to use or count
            return
        self._available_connections.append(connection)
        if self._waiting:
            with self._freed:
                self._freed.notify()


def _unclean(connection):
    try:
        return connection.can_read()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return True


def make_redis(url, max_connections=64):
    """A client with its own bounded connection pool, shared by the threads or greenlets of one worker.

    `url` may be `redis://`, `rediss://` (TLS; `?ssl_ca_certs=…` for a private CA) or `unix://`, with an ACL
    user and password (`rediss://user:password@host:port/0`).
    """
    pool = BoundedPool.from_url(url, max_connections=max_connections, parser_class=Parser, **REDIS_OPTIONS)
    client = GuardedRedis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


def redis_check(client):
    """A health check entry: ok when Redis answers PING within its timeout, else down."""
    try:
        client.ping()
        return {"status": "ok", "backend": "redis"}
    except RedisUnavailableError as exc:
        return {"status": "down", "backend": "redis", "detail": type(exc.__cause__ or exc).__name__}
