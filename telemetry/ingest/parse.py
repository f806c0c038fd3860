"""Parse and validate telemetry payloads. Pure functions: no ORM, no I/O.

Accepted shapes (ThingsBoard's, so firmware written for it works unchanged):

- ``{"temperature": 71.2, "vibration": 0.4}``: values at the server's time;
- ``{"ts": 1730000000000, "values": {...}}``: milliseconds since the epoch, or an ISO-8601
  string with a zone (``"2026-11-23T10:00:00Z"``);
- an array of either.

A gateway sends ``{"<device serial>": <any of the above>, ...}``.

Each bad item is rejected with a reason and the rest are kept; the caller decides whether the
request as a whole is acceptable (size, number of points).
"""

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from devices.metrics import is_metric_key

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_REASONS = 100
# The largest magnitude a reading may have. Far beyond any sensor or counter (float64 holds
# integers exactly up to 9e15), and small enough that sums of a minute's or an hour's readings
# in the rollups never overflow to infinity.
VALUE_LIMIT = 1e15
SERIAL_MAX = 100  # devices.Device.serial

Point = tuple[datetime, str, float]


class PayloadError(ValueError):
    """The payload as a whole is unusable (HTTP 400)."""


def decode(body: bytes) -> Any:
    """A message body as JSON; PayloadError naming the problem when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        # The standard library accepts NaN and Infinity, which orjson refuses: decoding them
        # lets each such value be rejected on its own instead of the whole message.
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"malformed JSON: {exc}") from None


def printable(text: str, limit: int = 100) -> str:
    """Text as it can be echoed in an answer: control characters and lone surrogates (which no
    UTF-8 encoder accepts) escaped, cut to ``limit``."""
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def serial_problem(serial: str) -> str | None:
    """Why a gateway's device serial cannot name a device, or None."""
    if not serial or len(serial) > SERIAL_MAX:
        return f"a device serial has 1-{SERIAL_MAX} characters"
    if not serial.isprintable():
        return "a device serial may not hold control characters or lone surrogates"
    return None


@dataclass
class Parsed:
    points: list[Point] = field(default_factory=list)
    rejected: int = 0
    duplicates: int = 0
    reasons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every point the payload held: kept, rejected or repeated."""
        return len(self.points) + self.rejected + self.duplicates

    def reject(
        self,
        reason: str,
        *,
        item: int | None = None,
        key: str | None = None,
        device: str | None = None,
        count: int = 1,
    ) -> None:
        self.rejected += count
        if len(self.reasons) < MAX_REASONS:
            entry: dict[str, Any] = {"reason": reason}
            if device is not None:
                entry["device"] = printable(device)
            if item is not None:
                entry["item"] = item
            if key is not None:
                entry["key"] = printable(key)
            self.reasons.append(entry)


def _timestamp(raw: Any, now: datetime, max_future: timedelta) -> datetime | str:
    """A datetime, or the reason it is not one."""
    if isinstance(raw, bool):
        return "ts must be milliseconds since the epoch or an ISO-8601 string"
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            return "ts is not finite"
        try:
            when = datetime.fromtimestamp(raw / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return "ts is out of range"
    elif isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            return f"ts {raw[:40]!r} is not an ISO-8601 time"
        if when.tzinfo is None:
            return "ts has no time zone (add Z or +hh:mm)"
        try:
            # In UTC from here on: rollup buckets are UTC minutes and hours whatever offset the
            # device wrote (15:45+05:30 belongs to the 10:00 UTC hour, not to "15:00+05:30").
            when = when.astimezone(UTC)
        except OverflowError:
            return "ts is out of range"
    else:
        return "ts must be milliseconds since the epoch or an ISO-8601 string"
    if when < EARLIEST:
        return "ts is before 2000-01-01 (seconds instead of milliseconds?)"
    if when > now + max_future:
        return f"ts is more than {int(max_future.total_seconds())} s in the future"
    return when


def _values(
    values: Any,
    when: datetime,
    out: Parsed,
    item: int | None,
    device: str | None,
    seen: set[tuple[str, datetime]],
) -> None:
    if not isinstance(values, dict):
        out.reject("values must be an object of metric → number", item=item, device=device)
        return
    if not values:
        out.reject("no values", item=item, device=device)
        return
    for key, value in values.items():
        if not is_metric_key(key):
            out.reject(
                "bad metric key: 1-64 letters, digits, _ . - starting with a letter or digit",
                item=item,
                key=key[:64],
                device=device,
            )
        elif isinstance(value, bool) or not isinstance(value, int | float):
            out.reject(
                f"value is a {type(value).__name__}, not a number",
                item=item,
                key=key,
                device=device,
            )
        elif isinstance(value, float) and not math.isfinite(value):
            out.reject("value is not finite (NaN or Infinity)", item=item, key=key, device=device)
        elif not -VALUE_LIMIT <= value <= VALUE_LIMIT:  # exact for ints of any size
            out.reject(
                "value is outside ±1e15, the range readings may have",
                item=item,
                key=key,
                device=device,
            )
        elif (key, when) in seen:
            out.duplicates += 1
        else:
            seen.add((key, when))
            out.points.append((when, key, float(value)))


def _item(
    entry: Any,
    now: datetime,
    max_future: timedelta,
    out: Parsed,
    item: int | None,
    device: str | None,
    seen: set[tuple[str, datetime]],
) -> None:
    if not isinstance(entry, dict):
        out.reject("each item must be an object", item=item, device=device)
        return
    if "ts" in entry or "values" in entry:
        if set(entry) - {"ts", "values"}:
            out.reject(
                "an item with ts/values may hold only ts and values", item=item, device=device
            )
            return
        if "values" not in entry:
            out.reject("ts without values", item=item, device=device)
            return
        when = _timestamp(entry["ts"], now, max_future) if "ts" in entry else now
        if isinstance(when, str):
            count = len(entry["values"]) if isinstance(entry["values"], dict) else 1
            out.reject(when, item=item, device=device, count=max(count, 1))
            return
        _values(entry["values"], when, out, item, device, seen)
    else:
        _values(entry, now, out, item, device, seen)


def parse_device(
    payload: Any,
    *,
    now: datetime,
    max_future: timedelta,
    device: str | None = None,
    out: Parsed | None = None,
    seen: set[tuple[str, datetime]] | None = None,
    start: int = 0,
) -> Parsed:
    """Readings of one device from a decoded JSON payload.

    A long array may be parsed in slices into the same ``out`` and ``seen`` (duplicates found
    across slices), ``start`` being the slice's first index (the item numbers in reasons)."""
    out = out if out is not None else Parsed()
    seen = seen if seen is not None else set()
    if isinstance(payload, list):
        if not payload:
            raise PayloadError("empty array: nothing to store")
        for index, entry in enumerate(payload, start):
            _item(entry, now, max_future, out, index, device, seen)
    elif isinstance(payload, dict):
        if not payload:
            raise PayloadError("empty object: nothing to store")
        _item(payload, now, max_future, out, None, device, seen)
    else:
        raise PayloadError("expected a JSON object or array of objects")
    return out


def parse_gateway(
    payload: Any, *, now: datetime, max_future: timedelta
) -> tuple[dict[str, list[Point]], Parsed]:
    """Readings of many devices keyed by serial; returns points per serial and the totals."""
    if not isinstance(payload, dict) or not payload:
        raise PayloadError('expected {"<device serial>": [{"ts": ..., "values": {...}}, ...]}')
    totals = Parsed()
    by_serial: dict[str, list[Point]] = {}
    for serial, readings in payload.items():
        start = len(totals.points)
        problem = serial_problem(serial)
        if problem:
            totals.reject(problem, device=serial, count=_count(readings))
            continue
        if not isinstance(readings, list | dict) or not readings:
            totals.reject("expected an object or a non-empty array", device=serial)
            continue
        parse_device(readings, now=now, max_future=max_future, device=serial, out=totals)
        by_serial[serial] = totals.points[start:]
    return by_serial, totals


def _count(readings: Any) -> int:
    """How many readings a rejected device's entry held, counted cheaply (at least 1)."""
    if isinstance(readings, list):
        return max(len(readings), 1)
    return 1
