from django.urls import path

from .insight_views import AnomalyExportView, AnomalyStatsView, ClusterExportView
from .views import (
    AnomalyListView,
    ClustersView,
    DeviceForecastView,
    DevicePredictionView,
    DeviceScoresView,
    ModelVersionDetailView,
    ModelVersionListView,
    TrainingDetailView,
    TrainingListView,
)

urlpatterns = [
    path("analytics/models", ModelVersionListView.as_view(), name="api-model-list"),
    path("analytics/models/<int:pk>", ModelVersionDetailView.as_view(), name="api-model-detail"),
    path("analytics/training", TrainingListView.as_view(), name="api-training-list"),
    path("analytics/training/<int:pk>", TrainingDetailView.as_view(), name="api-training-detail"),
    path("analytics/anomalies", AnomalyListView.as_view(), name="api-anomaly-list"),
    path("analytics/anomalies/stats", AnomalyStatsView.as_view(), name="api-anomaly-stats"),
    path("analytics/anomalies.csv", AnomalyExportView.as_view(), name="api-anomaly-export"),
    path("analytics/clusters", ClustersView.as_view(), name="api-clusters"),
    path("analytics/clusters.csv", ClusterExportView.as_view(), name="api-cluster-export"),
    path("devices/<int:pk>/scores", DeviceScoresView.as_view(), name="api-device-scores"),
    path("devices/<int:pk>/forecast", DeviceForecastView.as_view(), name="api-device-forecast"),
    path(
        "devices/<int:pk>/prediction",
        DevicePredictionView.as_view(),
        name="api-device-prediction",
    ),
]
