"""The Models page: operators and admins see each device type's versions with their backtest
and why each was or was not activated, and the training runs; viewers are refused; another
tenant's models never show."""

from typing import Any

import pytest
from django.utils.html import escape

from analytics.models import TrainingRun
from iotplatform.tenancy.models import Tenant
from tests.analytics import plant
from tests.analytics.test_api import _version

pytestmark = pytest.mark.django_db


def test_the_models_page_shows_the_tenants_versions_and_runs(
    page_as: Any, operator: Any, viewer: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    from analytics import registry

    retired = _version(tenant)
    active = _version(tenant)  # promoted without a backtest: the first one retired
    candidate = _version(tenant)
    candidate.state = "candidate"
    candidate.save()
    active.state = "active"
    active.save()
    # Not better than the active one on the same data: kept as a candidate, saying why.
    assert not registry.model_version_promote(
        version=candidate, metric="f1", candidate_score=0.80, active_score=0.91
    )
    theirs = _version(other_tenant)
    TrainingRun.objects.create(
        tenant=tenant, device_type=plant.pump_type(tenant), kinds=["anomaly"],
        status=TrainingRun.Status.RUNNING, progress=0.4, step="training anomaly",
        results={"rul": {"version": None, "activated": False,
                         "message": "No device of this type has failed yet."}},
    )  # fmt: skip
    page = page_as(operator).get("/models/").content.decode()
    assert f'data-version="{active.id}" data-state="active"' in page
    assert f'data-version="{retired.id}" data-state="retired"' in page
    assert f'data-version="{candidate.id}"' in page and f'data-version="{theirs.id}"' not in page
    candidate.refresh_from_db()
    why = candidate.changes.last().reason
    assert "worse than active" in why and escape(why) in page  # why it is where it is
    assert "f1 <strong>0.91</strong>" in page
    assert 'value="0.4"' in page and "Running: training anomaly" in page  # a run under way
    assert "<strong>rul</strong>: No device of this type has failed yet." in page
    assert 'data-retrain="pump"' in page and 'href="/models/"' in page
    assert page_as(viewer).get("/models/").status_code == 403
    assert 'href="/models/"' not in page_as(viewer).get("/").content.decode()
