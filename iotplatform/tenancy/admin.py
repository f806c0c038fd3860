"""Django admin with tenant scoping.

Platform staff (superusers) see every tenant. A tenant admin (staff flag plus an admin
membership) sees and edits only the rows of the tenants they administer, can only pick those
tenants in forms, and cannot grant superuser or staff powers. Apps build their admin classes on
:class:`TenantScopedAdmin`; an admin class with its own scoping rule uses
:class:`AdminPermissionsMixin` and writes only ``_allowed``. Every other registered admin
(third-party ones: django-axes' lockouts, Celery beat's schedules, auth's groups) is made
platform staff only by :func:`platform_only_admins`, whatever Django permissions a tenant admin
may hold.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Field, Model, QuerySet
from django.http import Http404, HttpRequest

from .models import Membership, Role, Tenant
from .selectors import admin_tenant_ids


def _tenant_ids(request: HttpRequest) -> set[int]:
    cache = "_admin_tenant_ids"
    if not hasattr(request, cache):
        setattr(request, cache, admin_tenant_ids(user=request.user))
    return getattr(request, cache)


class NotFoundForeignMixin:
    """Another tenant's object and a missing one give the same 404 (Django's admin would
    otherwise redirect to its index with a message)."""

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None:
            raise Http404("Not found.")
        return obj


class AdminPermissionsMixin:
    """The admin's permission questions (module, view, change, add, delete) all answered by one
    rule, ``_allowed(request, obj)``: the module, list and add pages ask without an object, a
    row's pages with it. Platform staff (active superusers) may do everything."""

    def _is_platform(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def _allowed(self, request: HttpRequest, obj: Model | None = None) -> bool:
        raise NotImplementedError

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, obj)


class PlatformOnlyMixin:
    """An admin that is not scoped to a tenant: only platform staff reach it. A tenant admin's
    rights come from the membership, so a permission flag granted to one cannot open it."""

    def _is_platform(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_platform(request) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_platform(request) and super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_platform(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._is_platform(request) and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_platform(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]


def platform_only_admins(site: admin.AdminSite) -> None:
    """Re-register every admin that answers no tenant rule (not an :class:`AdminPermissionsMixin`)
    as platform staff only. Runs once every app's admin module is loaded (the tenancy app's
    ``ready()``; Django's admin discovers them in its own, earlier ``ready()``)."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, AdminPermissionsMixin | PlatformOnlyMixin):
            continue
        base = type(model_admin)
        site.unregister(model)
        site.register(model, type(f"PlatformOnly{base.__name__}", (PlatformOnlyMixin, base), {}))


def _tenant_scope(model: type[Model], ids: set[int]) -> dict[str, Any] | None:
    """The filter that keeps ``model``'s rows to the given tenants (None: not tenant-owned)."""
    if model is Tenant:
        return {"id__in": ids}
    if any(f.name == "tenant" for f in model._meta.get_fields()):
        return {"tenant_id__in": ids}
    return None


def _visible_rows(model: type[Model], request: HttpRequest) -> QuerySet[Any] | None:
    """The rows of ``model`` a tenant admin may see: through its own admin's scoping (people:
    those of their tenants), else its tenant; None when none are theirs (groups, schedules)."""
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, AdminPermissionsMixin):
        return model_admin.get_queryset(request)
    scope = _tenant_scope(model, _tenant_ids(request))
    return None if scope is None else model._default_manager.filter(**scope)


class TenantRelatedFilter(admin.RelatedFieldListFilter):
    """ "By tenant", "By type": the choices of a relation filter, the rows the admin may see."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        rows = _visible_rows(field.related_model, request)
        visible: dict[str, Any] = {"pk__in": rows.values("pk") if rows is not None else []}
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=visible)


class TenantValuesFilter(admin.AllValuesFieldListFilter):
    """ "By type name": the values offered are those of the rows the admin may see (Django
    takes them from every row of the related model)."""

    def __init__(
        self,
        field: Field,
        request: HttpRequest,
        params: Any,
        model: Any,
        model_admin: Any,
        field_path: str,
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = (
            model_admin.get_queryset(request)
            .exclude(**{f"{field_path}__isnull": True})
            .order_by(field_path)
            .values_list(field_path, flat=True)
            .distinct()
        )


class TenantListFiltersMixin:
    """Every list filter of a tenant admin's changelist offers only the rows and values they may
    see; a filter on a relation to rows that are none of theirs (groups) is left out."""

    model: type[Model]

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = super().get_list_filter(request)  # type: ignore[misc]
        if request.user.is_active and request.user.is_superuser:
            return filters
        scoped: list[Any] = []
        for spec in filters:
            if isinstance(spec, str):
                field = get_fields_from_path(self.model, spec)[-1]
                if field.is_relation:
                    related = field.related_model
                    if related is None or _visible_rows(related, request) is None:
                        continue
                    spec = (spec, TenantRelatedFilter)
                elif "__" in spec:
                    spec = (spec, TenantValuesFilter)
            scoped.append(spec)
        return scoped


class TenantScopedAdmin(
    TenantListFiltersMixin, AdminPermissionsMixin, NotFoundForeignMixin, admin.ModelAdmin
):
    """ModelAdmin for a model with a ``tenant`` field (``tenant_field`` to change the path)."""

    tenant_field = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if self._is_platform(request):
            return qs
        return qs.filter(**{f"{self.tenant_field}__in": _tenant_ids(request)})

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not self._is_platform(request):
            rows = _visible_rows(db_field.related_model, request)
            if rows is not None:
                kwargs["queryset"] = rows
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _allowed(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if self._is_platform(request):
            return True
        ids = _tenant_ids(request)
        if not request.user.is_staff or not ids:
            return False
        if obj is None:
            return True
        return self._object_tenant_id(obj) in ids

    def _object_tenant_id(self, obj: Model) -> int | None:
        target: Any = obj
        for part in self.tenant_field.split("__")[:-1]:
            target = getattr(target, part)
        return getattr(target, self.tenant_field.split("__")[-1] + "_id", None)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not self._is_platform(request):
            model = db_field.related_model
            if model is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(id__in=_tenant_ids(request))
            else:
                # Tenant rows, and people through their own admin (those of the tenants).
                rows = _visible_rows(model, request)
                if rows is not None:
                    kwargs["queryset"] = rows
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = "id"
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = admin.ModelAdmin.get_queryset(self, request)
        return qs if self._is_platform(request) else qs.filter(id__in=_tenant_ids(request))

    def _object_tenant_id(self, obj: Model) -> int | None:
        return obj.pk

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._is_platform(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._is_platform(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return () if self._is_platform(request) else ("slug",)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__name"]
    list_select_related = ["user", "tenant"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user" and not self._is_platform(request):
            # A tenant admin adds people who already belong to one of their tenants (new people
            # are created in the Users page, which adds them to a tenant).
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(memberships__tenant_id__in=_tenant_ids(request), is_superuser=False)
                .distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TenantUserCreationForm(forms.ModelForm):
    """Add a person straight into one of the admin's tenants with a role."""

    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    role = forms.ChoiceField(choices=Role.choices)

    class Meta:
        model = get_user_model()
        fields = ["username", "email", "first_name", "last_name"]


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class TenantUserAdmin(
    TenantListFiltersMixin, AdminPermissionsMixin, NotFoundForeignMixin, UserAdmin
):
    """Users: platform staff see all; a tenant admin sees the people whose every tenant is one
    they administer, and cannot touch superuser, staff or permission flags."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if self._is_platform(request):
            return qs
        ids = _tenant_ids(request)
        return (
            qs.filter(is_superuser=False, memberships__tenant_id__in=ids)
            .exclude(memberships__in=Membership.objects.exclude(tenant_id__in=ids))
            .distinct()
        )

    def _allowed(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if self._is_platform(request):
            return True
        if not (request.user.is_staff and _tenant_ids(request)):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and obj != request.user

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if self._is_platform(request):
            return super().get_fieldsets(request, obj)
        if obj is None:
            return [(None, {"fields": ["username", "password", "email", "tenant", "role"]})]
        return [
            (None, {"fields": ["username", "password"]}),
            ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
            ("Status", {"fields": ["is_active", "last_login", "date_joined"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if self._is_platform(request):
            return super().get_readonly_fields(request, obj)
        return ["last_login", "date_joined"]

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None and not self._is_platform(request):
            kwargs["form"] = TenantUserCreationForm
            kwargs["fields"] = None
            form = admin.ModelAdmin.get_form(self, request, obj, change, **kwargs)
            tenant_field: forms.ModelChoiceField = form.base_fields["tenant"]  # type: ignore[assignment]
            tenant_field.queryset = Tenant.objects.filter(id__in=_tenant_ids(request))
            return form
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not self._is_platform(request):
            from .services import membership_set

            tenant = form.cleaned_data["tenant"]
            if tenant.id not in _tenant_ids(request):  # defence in depth beyond the form
                raise PermissionError("not your tenant")
            obj.set_password(form.cleaned_data["password"])
            obj.is_superuser = False
            obj.save()
            membership_set(tenant=tenant, user=obj, role=form.cleaned_data["role"])
            return
        super().save_model(request, obj, form, change)
