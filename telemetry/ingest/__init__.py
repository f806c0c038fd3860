"""Ingestion of device telemetry: parsing and validation (``parse``), writing by binary COPY
(``writer``) and the light ASGI application that serves the device endpoints (``app``)."""
