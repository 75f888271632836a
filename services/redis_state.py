"""Redis clients for shared state: short timeouts and one retry, so trouble is a quick answer, never a hang."""

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


def make_redis(url):
    """A client with its own connection pool, shared by the threads of one worker process."""
    return redis.Redis.from_url(url, **REDIS_OPTIONS)


def redis_check(client):
    """A health check entry: ok when Redis answers PING within its timeout, else down."""
    try:
        client.ping()
        return {"status": "ok", "backend": "redis"}
    except redis.RedisError as exc:
        return {"status": "down", "backend": "redis", "detail": type(exc).__name__}
