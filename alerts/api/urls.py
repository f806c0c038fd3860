from django.urls import path

from .notifications import (
    DeliveryListView,
    MyProfileView,
    RecipientsDetailView,
    RecipientsListView,
)
from .reports import (
    PreviewView,
    RunArchiveView,
    RunDetailView,
    RunFileView,
    RunListView,
    ScheduleDetailView,
    ScheduleListView,
    ScheduleSendView,
)
from .views import (
    AlarmCommentView,
    AlarmDetailView,
    AlarmListView,
    AlarmStepView,
    RuleDetailView,
    RuleListView,
)

urlpatterns = [
    path("alerts/rules", RuleListView.as_view(), name="api-rule-list"),
    path("alerts/rules/<int:pk>", RuleDetailView.as_view(), name="api-rule-detail"),
    path("alerts/alarms", AlarmListView.as_view(), name="api-alarm-list"),
    path("alerts/alarms/<int:pk>", AlarmDetailView.as_view(), name="api-alarm-detail"),
    *[
        path(
            f"alerts/alarms/<int:pk>/{step}",
            AlarmStepView.as_view(step=step),
            name=f"api-alarm-{step}",
        )
        for step in ("acknowledge", "clear", "close")
    ],
    path("alerts/alarms/<int:pk>/comments", AlarmCommentView.as_view(), name="api-alarm-comment"),
    path("alerts/notifications/me", MyProfileView.as_view(), name="api-notify-me"),
    path("alerts/recipients", RecipientsListView.as_view(), name="api-recipients"),
    path(
        "alerts/recipients/<str:severity>",
        RecipientsDetailView.as_view(),
        name="api-recipients-detail",
    ),
    path("alerts/deliveries", DeliveryListView.as_view(), name="api-deliveries"),
    path("reports/schedules", ScheduleListView.as_view(), name="api-report-schedules"),
    path(
        "reports/schedules/<int:pk>",
        ScheduleDetailView.as_view(),
        name="api-report-schedule-detail",
    ),
    path("reports/schedules/<int:pk>/send", ScheduleSendView.as_view(), name="api-report-send"),
    path("reports/preview", PreviewView.as_view(), name="api-report-preview"),
    path("reports/runs", RunListView.as_view(), name="api-report-runs"),
    path("reports/runs/<int:pk>", RunDetailView.as_view(), name="api-report-run"),
    path("reports/runs/<int:pk>/files/<str:name>", RunFileView.as_view(), name="api-report-file"),
    path("reports/runs/<int:pk>/archive", RunArchiveView.as_view(), name="api-report-archive"),
]
