"""Features, detectors, health score, RUL and forecasting models, the model registry and the
Celery train/apply tasks (see DESIGN.md). Filled by the prediction capabilities."""
