"""Where the platform's Redis is: one server, or the primary that Redis Sentinel names.

One server: ``REDIS_URL``. For failover, ``REDIS_SENTINELS`` lists the sentinels
(``host:port``, comma-separated) and ``REDIS_SENTINEL_MASTER`` the name they monitor the primary
under; ``REDIS_URL`` then gives only the database number and the password (its host and port
are not used), and ``REDIS_SENTINEL_PASSWORD`` the sentinels' own password if they have one.

Every Redis user of the platform connects through what this module makes: the cache, the
channel layer and Celery's broker and results take the settings built here (each library
speaks Sentinel itself), and the platform's own clients — ingestion's alert stream, rate limits
and revocations, the alert evaluator, the apply lock, the live watch list, health checks — call
:func:`client` or :func:`async_client`. A client asks the sentinels for the primary when it
connects, and again after a connection fails, so after a failover the next attempt reaches the
promoted replica.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis import asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel, SentinelConnectionPool


@dataclass(frozen=True)
class Place:
    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = "iot"
    sentinel_password: str = ""

    @property
    def db(self) -> int:
        path = urlsplit(self.url).path.strip("/")
        return int(path) if path else 0

    @property
    def password(self) -> str | None:
        password = urlsplit(self.url).password
        return unquote(password) if password else None

    @property
    def sentinel_kwargs(self) -> dict[str, Any]:
        return {"password": self.sentinel_password} if self.sentinel_password else {}

    def master_kwargs(self) -> dict[str, Any]:
        """How to log in to the primary once found: the database and password of REDIS_URL."""
        return {"db": self.db, "password": self.password}


def place(url: str, sentinels: str = "", master: str = "iot", sentinel_password: str = "") -> Place:
    """Read the settings' text. A sentinel without a port, or with one that is not a number,
    is refused here, at start-up, rather than at the first connection."""
    found = []
    for entry in filter(None, (part.strip() for part in sentinels.split(","))):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS: {entry!r} is not host:port")
        found.append((host, int(port)))
    return Place(url, tuple(found), master, sentinel_password)


def cache(where: Place, **config: Any) -> dict[str, Any]:
    """Django's cache on this Redis."""
    found: dict[str, Any] = {"BACKEND": "django.core.cache.backends.redis.RedisCache"}
    found["LOCATION"] = where.url
    if where.sentinels:
        found["OPTIONS"] = {"pool_class": "iotplatform.redisplace.CachePool", "place": where}
    return {**found, **config}


class CachePool(SentinelConnectionPool):
    """Django's Redis cache makes its pools with ``from_url``; this one finds the primary
    through the sentinels of the ``place`` option."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "CachePool":
        where: Place = options.pop("place")
        manager = Sentinel(list(where.sentinels), sentinel_kwargs=where.sentinel_kwargs)
        return cls(where.master, manager, **where.master_kwargs(), **options)


def channel_host(where: Place, **options: Any) -> dict[str, Any]:
    """One entry of channels-redis's ``hosts``."""
    if not where.sentinels:
        return {"address": where.url, **options}
    found = {"sentinels": list(where.sentinels), "master_name": where.master}
    return {**found, "sentinel_kwargs": where.sentinel_kwargs, **where.master_kwargs(), **options}


def celery(where: Place) -> tuple[str, dict[str, Any]]:
    """Celery's broker (and result backend) URL and its transport options."""
    if not where.sentinels:
        return where.url, {}
    login = f":{urlsplit(where.url).password}@" if where.password else ""
    url = ";".join(f"sentinel://{login}{host}:{port}/{where.db}" for host, port in where.sentinels)
    options: dict[str, Any] = {"master_name": where.master}
    if where.sentinel_kwargs:
        options["sentinel_kwargs"] = where.sentinel_kwargs
    return url, options


def client(where: Place | None = None, **options: Any) -> redis.Redis:
    """A client of the platform's Redis (``settings.REDIS``), ``options`` as redis-py's."""
    where = where or _settings_place()
    if not where.sentinels:
        return redis.Redis.from_url(where.url, **options)
    manager = Sentinel(list(where.sentinels), sentinel_kwargs=where.sentinel_kwargs)
    return manager.master_for(where.master, **where.master_kwargs(), **options)


def async_client(where: Place | None = None, **options: Any) -> aioredis.Redis:
    """The asyncio client of the platform's Redis."""
    where = where or _settings_place()
    if not where.sentinels:
        return aioredis.from_url(where.url, **options)
    manager = AsyncSentinel(list(where.sentinels), sentinel_kwargs=where.sentinel_kwargs)
    return manager.master_for(where.master, **where.master_kwargs(), **options)


def _settings_place() -> Place:
    from django.conf import settings

    return settings.REDIS
