from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "iotplatform.tenancy"
    label = "tenancy"
    verbose_name = "Tenants and people"
