"""Standalone device-fleet simulator (physics, degradation, anomalies, HTTP/MQTT transports).

It does not import Django: it talks to the platform through the public device API like a real
device. Built by the simulator capability (see DESIGN.md).
"""
