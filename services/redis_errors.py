"""Redis failures as an exception tuple, without importing redis where no Redis is configured.

The redis package costs a worker about 6 MB of memory; a gateway without REDIS_URL never loads it, and then
no Redis error can happen, so the tuple is empty (an `except ()` catches nothing).
"""

import sys


def redis_errors():
    """(redis.RedisError,) once redis is loaded, else ()."""
    module = sys.modules.get("redis.exceptions")
    return (module.RedisError,) if module is not None else ()
