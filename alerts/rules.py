"""Alert rules: what each condition kind needs (validated, each problem named by its field), and
the defaults a new tenant starts from (the device catalogue's levels)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from devices import catalog
from devices.models import DeviceType
from iotplatform.tenancy.models import Tenant

from .models import Alarm, AlertRule, ConditionKind, Direction, Severity

METRIC_KINDS = {ConditionKind.THRESHOLD, ConditionKind.RATE, ConditionKind.ZSCORE}
# Kinds whose metric may be left empty: any of the device's metrics.
ANY_METRIC_KINDS = {ConditionKind.FORECAST_CROSSING}
BELOW_ONLY = {ConditionKind.RUL_BELOW, ConditionKind.HEALTH_BELOW}
NO_LEVEL = {ConditionKind.ANOMALY, ConditionKind.OFFLINE}

# The defaults: hold 30 s before opening, clear 5 % of the metric's range on the safe side.
DEFAULT_DURATION = 30
DEFAULT_HYSTERESIS = 0.05
DEFAULT_DROP = 10.0  # battery points …
DEFAULT_DROP_WINDOW = 600  # … within ten minutes


RULE_FIELDS = (
    "name",
    "device_type",
    "device",
    "kind",
    "metric",
    "direction",
    "threshold",
    "clear_threshold",
    "duration_seconds",
    "window_seconds",
    "severity",
    "cooldown_seconds",
    "enabled",
)


def rule_validate(rule: AlertRule) -> None:
    """What a rule of its kind needs, each problem named by its field (ValidationError)."""
    errors: dict[str, str] = {}
    kind = rule.kind
    if kind not in ConditionKind.values:
        errors["kind"] = (
            f"Unknown condition kind {kind!r}; one of {', '.join(ConditionKind.values)}."
        )
    if rule.severity not in Severity.values:
        errors["severity"] = (
            f"Unknown severity {rule.severity!r}; one of {', '.join(Severity.values)}."
        )
    if rule.direction not in Direction.values:
        errors["direction"] = "Direction is 'above' or 'below'."
    device, device_type = rule.device, rule.device_type
    if (device is None) == (device_type is None):
        errors["device_type"] = "A rule is on a device type or on one device: give exactly one."
        device_type = None
    elif device is not None:
        if device.tenant_id != rule.tenant_id:
            errors["device"] = "Not found."
        device_type = device.type
    elif device_type is not None and device_type.tenant_id != rule.tenant_id:
        errors["device_type"] = "Not found."
    if kind in METRIC_KINDS and not rule.metric and kind not in ANY_METRIC_KINDS:
        errors["metric"] = f"A {kind} rule needs the metric it watches."
    if rule.metric and device_type is not None and rule.metric not in (device_type.metrics or {}):
        errors["metric"] = (
            f"{rule.metric!r} is not a metric of device type {device_type.name!r} "
            f"(its metrics: {', '.join(sorted(device_type.metrics or {})) or 'none'})."
        )
    if kind in NO_LEVEL:
        if rule.threshold is not None or rule.clear_threshold is not None:
            errors["threshold"] = f"A {kind} rule takes no threshold."
    elif rule.threshold is None:
        errors["threshold"] = _level_help(kind)
    else:
        _check_level(rule, errors)
    if kind == ConditionKind.RATE and not rule.window_seconds:
        errors["window_seconds"] = "A rate rule needs the window its change is measured over."
    if kind != ConditionKind.RATE and rule.window_seconds:
        errors["window_seconds"] = "Only a rate rule has a window."
    if kind in BELOW_ONLY and rule.direction != Direction.BELOW:
        errors["direction"] = f"A {kind} rule fires below its threshold."
    if errors:
        raise ValidationError(errors)


def _level_help(kind: str) -> str:
    helps: dict[str, str] = {
        ConditionKind.THRESHOLD: "The level the metric must pass.",
        ConditionKind.RATE: "The change (in the metric's unit) within the window.",
        ConditionKind.ZSCORE: "The |z| past which the metric is flagged.",
        ConditionKind.RUL_BELOW: "The hours of remaining useful life below which it fires.",
        ConditionKind.HEALTH_BELOW: "The health score (0 to 100) below which it fires.",
        ConditionKind.FORECAST_CROSSING: "The hours ahead within which a crossing fires.",
    }
    return helps.get(kind, "A threshold is needed.")


def _check_level(rule: AlertRule, errors: dict[str, str]) -> None:
    level, clear = float(rule.threshold or 0.0), rule.clear_threshold
    positive = {ConditionKind.RATE, ConditionKind.ZSCORE, ConditionKind.FORECAST_CROSSING}
    if rule.kind in positive | {ConditionKind.RUL_BELOW} and level <= 0:
        errors["threshold"] = f"A {rule.kind} rule's threshold is above 0."
    if rule.kind == ConditionKind.HEALTH_BELOW and not 0 < level <= 100:
        errors["threshold"] = "A health threshold is between 0 and 100."
    if clear is None:
        return
    below = rule.direction == Direction.BELOW or rule.kind in BELOW_ONLY
    if rule.kind in (ConditionKind.RATE, ConditionKind.ZSCORE):
        safe = 0 <= clear <= level
    elif rule.kind == ConditionKind.FORECAST_CROSSING:  # hours away: farther is safer
        below, safe = True, clear >= level
    else:
        safe = clear >= level if below else clear <= level
    if not safe:
        side = "at or above" if below else "at or below"
        errors["clear_threshold"] = (
            f"The clear level is on the safe side of the threshold: {side} {level:g}."
        )


@transaction.atomic
def rule_create(*, tenant: Tenant, **fields: Any) -> AlertRule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    rule = AlertRule(tenant=tenant, **fields)
    rule_validate(rule)
    if AlertRule.objects.filter(tenant=tenant, name=rule.name).exists():
        raise ValidationError({"name": f"A rule named {rule.name!r} exists already."})
    rule.save()
    return rule


@transaction.atomic
def rule_update(*, rule: AlertRule, **fields: Any) -> AlertRule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule_validate(rule)
    taken = AlertRule.objects.filter(tenant_id=rule.tenant_id, name=rule.name).exclude(pk=rule.pk)
    if "name" in fields and taken.exists():
        raise ValidationError({"name": f"A rule named {rule.name!r} exists already."})
    rule.save()
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule) -> None:
    """A rule without alarms goes; one with alarms stays (disable it instead), so their history
    keeps the rule it was raised by."""
    count = Alarm.objects.filter(rule=rule).count()
    if count:
        raise ValidationError(
            {"detail": f"The rule has {count} alarms; disable it instead, so their history stays."}
        )
    rule.delete()


def _defaults_of(device_type: DeviceType) -> list[dict[str, Any]]:
    """The catalogue's levels as rules: overheating, vibration and pressure past the type's
    warning (warning) and alarm (critical) levels, a low battery and a battery drop, offline."""
    out: list[dict[str, Any]] = []
    metrics = device_type.metrics or {}
    what = {
        "temperature": "overheating",
        "vibration": "high vibration",
        "pressure": "high pressure",
    }
    for metric, label in what.items():
        spec = metrics.get(metric) or {}
        span = float(spec.get("max", 0)) - float(spec.get("min", 0))
        for key, severity in (("warn_high", Severity.WARNING), ("alarm_high", Severity.CRITICAL)):
            if spec.get(key) is None:
                continue
            level = float(spec[key])
            out.append(
                {
                    "name": f"{device_type.name}: {label}"
                    + (" (alarm level)" if key == "alarm_high" else ""),
                    "kind": ConditionKind.THRESHOLD,
                    "metric": metric,
                    "direction": Direction.ABOVE,
                    "threshold": level,
                    "clear_threshold": round(level - DEFAULT_HYSTERESIS * span, 3),
                    "duration_seconds": DEFAULT_DURATION,
                    "severity": severity,
                }
            )
    battery = metrics.get("battery") or {}
    if battery.get("warn_low") is not None:
        level = float(battery["warn_low"])
        out.append(
            {
                "name": f"{device_type.name}: low battery",
                "kind": ConditionKind.THRESHOLD,
                "metric": "battery",
                "direction": Direction.BELOW,
                "threshold": level,
                "clear_threshold": level + 5.0,
                "duration_seconds": DEFAULT_DURATION,
                "severity": Severity.WARNING,
            }
        )
    if "battery" in metrics:
        out.append(
            {
                "name": f"{device_type.name}: battery drop",
                "kind": ConditionKind.RATE,
                "metric": "battery",
                "direction": Direction.BELOW,
                "threshold": DEFAULT_DROP,
                "window_seconds": DEFAULT_DROP_WINDOW,
                "severity": Severity.WARNING,
            }
        )
    out.append(
        {"name": f"{device_type.name}: offline", "kind": ConditionKind.OFFLINE, "severity": "major"}
    )
    return out


@transaction.atomic
def rules_install_defaults(*, tenant: Tenant) -> list[AlertRule]:
    """The default rules of the tenant's catalogue device types (``devices.catalog``), from
    their warning and alarm levels; idempotent (a rule of the same name is left as it is)."""
    made = []
    types = DeviceType.objects.filter(tenant=tenant, name__in=list(catalog.DEVICE_TYPES))
    existing = set(AlertRule.objects.filter(tenant=tenant).values_list("name", flat=True))
    for device_type in types.order_by("name"):
        for fields in _defaults_of(device_type):
            if fields["name"] in existing:
                continue
            rule = AlertRule(tenant=tenant, device_type=device_type, **fields)
            rule_validate(rule)
            rule.save()
            made.append(rule)
    return made
