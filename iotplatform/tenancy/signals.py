"""What tenancy tells the floors above, without importing them."""

from django.dispatch import Signal

# Sent inside the creating transaction with ``tenant``: every app that gives a new tenant its
# starting set (devices: the standard device types) listens. See devices/receivers.py.
tenant_created = Signal()
