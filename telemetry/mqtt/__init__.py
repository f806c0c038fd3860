"""MQTT: devices and gateways publish through the platform's Mosquitto (its plugin,
``broker/iot_auth.c``, knows who each client is); the bridge (``manage.py mqtt_ingest``) feeds
what they publish to the same ingestion pipeline as HTTP."""
