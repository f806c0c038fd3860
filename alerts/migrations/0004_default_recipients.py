"""Who is told about alarms, for the tenants that existed before notifications did (operators
and admins from warning up, nobody for info); a tenant created later gets the same from
``receivers.install_default_recipients``."""

from typing import Any

from django.db import migrations


def install(apps: Any, schema_editor: Any) -> None:
    tenant_model = apps.get_model("tenancy", "Tenant")
    recipients_model = apps.get_model("alerts", "SeverityRecipients")
    for tenant in tenant_model.objects.all():
        for severity in ("critical", "major", "minor", "warning", "info"):
            audience = "listed" if severity == "info" else "operator"
            recipients_model.objects.get_or_create(
                tenant=tenant, severity=severity, defaults={"audience": audience}
            )


class Migration(migrations.Migration):
    dependencies = [("alerts", "0003_notifications")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
