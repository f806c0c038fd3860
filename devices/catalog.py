"""The standard device types every tenant can start from (the demo plant uses all of them).

Each metric: unit, label, expected range and default alert thresholds.
"""

from typing import Any

DEVICE_TYPES: dict[str, dict[str, Any]] = {
    "pump": {
        "expected_interval_seconds": 5,
        "metrics": {
            "temperature": {
                "unit": "°C",
                "label": "Temperature",
                "min": 10,
                "max": 90,
                "warn_high": 75,
                "alarm_high": 85,
            },
            "vibration": {
                "unit": "mm/s",
                "label": "Vibration",
                "min": 0,
                "max": 12,
                "warn_high": 7.1,
                "alarm_high": 11,
            },
            "pressure": {
                "unit": "bar",
                "label": "Pressure",
                "min": 0,
                "max": 16,
                "warn_low": 2,
                "alarm_low": 1,
            },
            "flow": {"unit": "m³/h", "label": "Flow", "min": 0, "max": 120, "warn_low": 10},
            "current": {
                "unit": "A",
                "label": "Current",
                "min": 0,
                "max": 40,
                "warn_high": 32,
                "alarm_high": 38,
            },
        },
    },
    "motor": {
        "expected_interval_seconds": 5,
        "metrics": {
            "temperature": {
                "unit": "°C",
                "label": "Winding temperature",
                "min": 10,
                "max": 130,
                "warn_high": 105,
                "alarm_high": 120,
            },
            "vibration": {
                "unit": "mm/s",
                "label": "Vibration",
                "min": 0,
                "max": 12,
                "warn_high": 4.5,
                "alarm_high": 7.1,
            },
            "speed": {"unit": "rpm", "label": "Speed", "min": 0, "max": 3600},
            "current": {
                "unit": "A",
                "label": "Current",
                "min": 0,
                "max": 60,
                "warn_high": 50,
                "alarm_high": 56,
            },
            "voltage": {
                "unit": "V",
                "label": "Voltage",
                "min": 360,
                "max": 440,
                "warn_low": 380,
                "warn_high": 420,
            },
        },
    },
    "compressor": {
        "expected_interval_seconds": 5,
        "metrics": {
            "temperature": {
                "unit": "°C",
                "label": "Discharge temperature",
                "min": 20,
                "max": 120,
                "warn_high": 100,
                "alarm_high": 110,
            },
            "pressure": {
                "unit": "bar",
                "label": "Discharge pressure",
                "min": 0,
                "max": 13,
                "warn_high": 11,
                "alarm_high": 12.5,
                "warn_low": 5,
            },
            "vibration": {
                "unit": "mm/s",
                "label": "Vibration",
                "min": 0,
                "max": 12,
                "warn_high": 7.1,
                "alarm_high": 11,
            },
            "current": {
                "unit": "A",
                "label": "Current",
                "min": 0,
                "max": 80,
                "warn_high": 70,
                "alarm_high": 76,
            },
        },
    },
    "edge gateway": {
        "expected_interval_seconds": 10,
        "metrics": {
            "cpu_usage": {
                "unit": "%",
                "label": "CPU usage",
                "min": 0,
                "max": 100,
                "warn_high": 85,
                "alarm_high": 95,
            },
            "temperature": {
                "unit": "°C",
                "label": "Board temperature",
                "min": -20,
                "max": 85,
                "warn_high": 70,
                "alarm_high": 80,
            },
            "battery": {
                "unit": "%",
                "label": "Backup battery",
                "min": 0,
                "max": 100,
                "warn_low": 30,
                "alarm_low": 15,
            },
        },
    },
    "battery sensor": {
        "expected_interval_seconds": 30,
        "metrics": {
            "temperature": {
                "unit": "°C",
                "label": "Temperature",
                "min": -20,
                "max": 60,
                "warn_high": 45,
                "alarm_high": 55,
            },
            "battery": {
                "unit": "%",
                "label": "Battery",
                "min": 0,
                "max": 100,
                "warn_low": 20,
                "alarm_low": 10,
            },
        },
    },
}
