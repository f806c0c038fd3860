from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo plant: tenants, people and a simulated fleet with its history. The top floor of
    the house — it may use every app and the simulator; nothing imports it."""

    name = "demo"
    verbose_name = "Demo"
