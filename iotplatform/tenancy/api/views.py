from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from iotplatform.tenancy import selectors
from iotplatform.tenancy.models import Membership, Role
from iotplatform.tenancy.scoping import TenantAPIView

from .serializers import MemberOutput, MeOutput


class MeView(TenantAPIView):
    """Who is calling, in which tenant (X-Tenant or the session's), and their other tenants."""

    serializer_class = MeOutput

    def tenant_queryset(self) -> QuerySet[Membership]:
        return Membership.objects.none()

    def get(self, request: Request) -> Response:
        user: Any = request.user
        data = {
            "username": user.username,
            "email": user.email,
            "current": self.membership,
            "memberships": list(selectors.membership_list(user=request.user)),
        }
        return Response(MeOutput(data).data)


class MemberListView(TenantAPIView):
    """The people of the tenant and their roles (tenant admins only)."""

    serializer_class = MemberOutput
    read_role = Role.ADMIN
    write_role = Role.ADMIN

    def tenant_queryset(self) -> QuerySet[Membership]:
        return selectors.tenant_members(tenant=self.tenant)

    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MemberOutput(page, many=True).data)
