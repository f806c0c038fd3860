from django.urls import path

from .views import MemberListView, MeView

urlpatterns = [
    path("me", MeView.as_view(), name="api-me"),
    path("members", MemberListView.as_view(), name="api-members"),
]
