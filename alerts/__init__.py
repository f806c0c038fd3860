"""Alert rules, the alert lifecycle, notification channels and deliveries, and scheduled CSV
report emails (see DESIGN.md). Filled by the alerting capability."""
