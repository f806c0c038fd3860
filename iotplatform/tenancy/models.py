"""Tenants and the memberships that tie people to them with a role."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {value!r}.")


class Role(models.TextChoices):
    """Roles in increasing power: each one can do all the ones before it can."""

    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"

    @classmethod
    def rank(cls, role: str) -> int:
        return [cls.VIEWER, cls.OPERATOR, cls.ADMIN].index(cls(role))

    @classmethod
    def allows(cls, role: str, required: str) -> bool:
        """True when someone with ``role`` may do what needs ``required``."""
        return cls.rank(role) >= cls.rank(required)


class Tenant(models.Model):
    slug = models.SlugField(
        max_length=50,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Lower-case letters, digits and -.")],
    )
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    retention_days = models.PositiveIntegerField(
        default=365, help_text="readings older than this are deleted (nightly)"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A tenant's retention is its own choice within the platform's bound
        (``RETENTION_MAX_DAYS``): its admin may keep readings for less, never for more."""
        bound = settings.RETENTION_MAX_DAYS
        if not 1 <= self.retention_days <= bound:
            raise ValidationError(
                {"retention_days": f"Between 1 and {bound} days (the platform's maximum)."}
            )


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")
        ]
        ordering = ["tenant__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"

    def allows(self, required: str) -> bool:
        return Role.allows(self.role, required)


class Invitation(models.Model):
    """A person asked by a tenant's admin to join with a role. The emailed link carries a token
    kept here only as its SHA-256; it sets the new person's username and password once, before
    it expires."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} as {self.role} of {self.tenant}"


class PersonalToken(models.Model):
    """A person's API token for scripts (``Authorization: Bearer <token>``): kept only as its
    SHA-256, with its first characters to tell tokens apart; named, expiring, its last use
    recorded, revocable. It acts as its person, in the tenants they belong to."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"


class AuditEvent(models.Model):
    """Who changed what in a tenant, when and from where: a tracked object made, changed (the
    fields that changed, before and after) or deleted, a sign-in or a failed one. Written by
    ``tenancy/audit.py``; kept for the tenant's retention."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)  # as it was then; "system" for tasks
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=16)  # created, changed, deleted, login, login_failed
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=50, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["tenant", "-at"])]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.object_type} {self.object_repr}"
