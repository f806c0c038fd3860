"""The default alert rules (the catalogue's levels) for the tenants that existed before rules
did; a tenant created later gets them from ``receivers.install_default_rules``."""

from typing import Any

from django.db import migrations


def install(apps: Any, schema_editor: Any) -> None:
    from alerts.rules import _defaults_of  # the same defaults, on the historical models
    from devices import catalog

    tenant_model = apps.get_model("tenancy", "Tenant")
    device_type_model = apps.get_model("devices", "DeviceType")
    rule_model = apps.get_model("alerts", "AlertRule")
    for tenant in tenant_model.objects.all():
        existing = set(rule_model.objects.filter(tenant=tenant).values_list("name", flat=True))
        types = device_type_model.objects.filter(
            tenant=tenant, name__in=list(catalog.DEVICE_TYPES)
        )
        for device_type in types:
            for fields in _defaults_of(device_type):
                if fields["name"] not in existing:
                    rule_model.objects.create(tenant=tenant, device_type=device_type, **fields)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("devices", "0006_type_residual_threshold"),
        ("tenancy", "0002_tenant_retention"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
