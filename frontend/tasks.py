"""The frontend's Celery tasks (found by the worker's autodiscovery): account emails."""

from .accounts import account_email_send

__all__ = ["account_email_send"]
