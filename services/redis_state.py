"""Redis clients for shared state: short timeouts and one retry, so trouble is a quick answer, never a hang."""

import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# A frozen Redis (SIGSTOP) accepts connections and never answers: two 0.3 s attempts stay under a second.
REDIS_OPTIONS = {
    "socket_timeout": 0.3,
    "socket_connect_timeout": 0.3,
    "retry": Retry(NoBackoff(), 1),
    "health_check_interval": 0,
}


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


class GuardedRedis(redis.Redis):
    """A Redis client whose commands, scripts and pipelines go through a Breaker."""

    def __init__(self, *args, breaker=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.breaker = breaker or Breaker()

    def execute_command(self, *args, **options):
        return self.breaker.call(super().execute_command, *args, **options)

    def pipeline(self, transaction=True, shard_hint=None):
        pipe = super().pipeline(transaction, shard_hint)
        plain_execute = pipe.execute
        pipe.execute = lambda raise_on_error=True: self.breaker.call(plain_execute, raise_on_error)
        return pipe


def make_redis(url):
    """A client with its own connection pool, shared by the threads of one worker process."""
    return GuardedRedis.from_url(url, **REDIS_OPTIONS)


def redis_check(client):
    """A health check entry: ok when Redis answers PING within its timeout, else down."""
    try:
        client.ping()
        return {"status": "ok", "backend": "redis"}
    except redis.RedisError as exc:
        return {"status": "down", "backend": "redis", "detail": type(exc).__name__}
