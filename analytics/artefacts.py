"""Model artefacts: joblib bytes in a private storage, trusted only with their checksum.

A pickle runs code when loaded, so an artefact is loaded only from the ``models`` storage
(Django's storage API, ``STORAGES["models"]``: a directory outside anything served or uploaded
to; nothing a tenant or a device sends is ever written there) and only when its SHA-256 equals
the one recorded in its ``ModelVersion`` row. A file swapped behind the platform's back is
refused, not unpickled.
"""

import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import joblib
from django.core.files.base import ContentFile
from django.core.files.storage import storages

CACHE_SIZE = 64  # loaded models kept per process (the apply cycle loads each active one)


class ArtefactError(RuntimeError):
    """An artefact that is missing or whose bytes are not the recorded ones."""


@dataclass(frozen=True)
class Stored:
    name: str
    checksum: str
    size: int


_cache: "OrderedDict[tuple[str, str], Any]" = OrderedDict()


def artefact_save(obj: Any, *, name: str) -> Stored:
    """Serialise ``obj`` with joblib and store it under ``name`` (a new name each version)."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=3)
    data = buffer.getvalue()
    stored_name = storages["models"].save(name, ContentFile(data))
    return Stored(stored_name, hashlib.sha256(data).hexdigest(), len(data))


def artefact_load(*, name: str, checksum: str) -> Any:
    """The object stored under ``name``, if its bytes hash to ``checksum``; cached per process
    by (name, checksum)."""
    key = (name, checksum)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    storage = storages["models"]
    try:
        with storage.open(name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ArtefactError(f"model artefact {name} is missing") from None
    if hashlib.sha256(data).hexdigest() != checksum:
        raise ArtefactError(f"model artefact {name} does not match its recorded checksum")
    obj = joblib.load(io.BytesIO(data))
    _cache[key] = obj
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return obj


def artefact_delete(name: str) -> None:
    storages["models"].delete(name)
