"""The pages' own API: figures composed from several apps for one page."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from devices.api.base import DeviceScopedView
from frontend.selectors import dashboard_summary

from .serializers import DashboardSummaryOutput


class DashboardSummaryView(DeviceScopedView):
    """The dashboard's figures for the tenant's fleet: devices by status, average of the
    latest temperatures, alerts and the share of readings beyond their warning thresholds in
    the last 5 minutes, average health and data freshness."""

    serializer_class = DashboardSummaryOutput

    @extend_schema(responses=DashboardSummaryOutput)
    def get(self, request: Request) -> Response:
        return Response(dashboard_summary(tenant=self.tenant))
