"""The residual detector in the apply cycle: each device's fit on its own previous day renewed
for the devices due and stored with the minute, each minute scored against it with the type's
threshold, the metric furthest from what the device's other metrics say named."""

from datetime import timedelta

import numpy as np
import pytest

from analytics import baselines, scoring
from analytics.ml import residuals
from analytics.models import DeviceBaseline, ModelState, ModelVersion

from . import plant

M = plant.END
FITTED = M - timedelta(minutes=6)  # the plant's last minute of normal operation


@pytest.fixture
def fitted(trained, tenant, monkeypatch) -> list:
    """The trained pumps, each refitted by the cycle of FITTED (every device due)."""
    monkeypatch.setattr(baselines, "refit_due", lambda device_id, minute: True)
    plant.seen(trained, FITTED + timedelta(seconds=30))
    result = scoring.scores_apply(tenant=tenant, minute=FITTED)
    assert result.devices == 3
    return trained


def test_each_device_s_fit_is_due_once_in_thirty_minutes() -> None:
    minutes = [M + timedelta(minutes=i) for i in range(baselines.REFIT_MINUTES)]
    for device_id in range(1, 70):
        assert sum(baselines.refit_due(device_id, m) for m in minutes) == 1


def test_the_cycle_stores_the_fit_of_the_devices_due_from_their_own_day(fitted, tenant) -> None:
    stored = {b.device_id: b for b in DeviceBaseline.objects.all()}
    assert set(stored) == {d.id for d in fitted}
    version = ModelVersion.objects.get(tenant=tenant, kind="anomaly", state=ModelState.ACTIVE)
    first = stored[fitted[0].id]
    # the minutes before the scored one: the last it saw is the one before
    assert first.tenant_id == tenant.id and first.fitted_at == FITTED - timedelta(minutes=1)
    assert first.signals == version.signals
    assert first.rows == residuals.RESIDUAL_WINDOW  # the last day: nothing left out
    # What it holds is the pure fit of the device's minutes (its standardisation the model's).
    active = scoring.registry.active_model(
        tenant=tenant, device_type=fitted[0].type, kind="anomaly"
    )
    assert active is not None
    model = active.artefact
    frame = scoring.minute_means(
        tenant_id=tenant.id,
        device_ids=[fitted[0].id],
        metrics=version.signals,
        start=FITTED - timedelta(days=2),
        end=FITTED,
    )
    fit = residuals.residual_fit(
        frame.to_numpy(),
        frame.index.get_level_values("minute"),
        centre=model.mean,
        scale=model.scale,
    )
    assert fit is not None
    np.testing.assert_allclose(first.fit["coefficients"], fit.coefficients, rtol=1e-9)
    np.testing.assert_allclose(first.fit["sd"], fit.sd, rtol=1e-9)
    # A re-run of the minute writes nothing: the fit stays as stored.
    before = list(DeviceBaseline.objects.values_list("device_id", "fitted_at", "fit"))
    assert scoring.scores_apply(tenant=tenant, minute=FITTED).skipped
    assert list(DeviceBaseline.objects.values_list("device_id", "fitted_at", "fit")) == before


def test_a_metric_off_what_the_device_s_others_say_is_flagged_and_drives(
    fitted, tenant, api_as, viewer, other_admin
) -> None:
    off, calm, _ = fitted
    spread = plant.METRICS["pressure"][1]
    # The load at its mean, pressure alone 2 spreads up: within the type's normal operation
    # (the multivariate model does not flag it) but far from what the device's current,
    # temperature and vibration say of its load (about 0.7 of a spread of residual noise).
    plant.store(plant.reading(off, M, pressure=50.0 + 2 * spread) + plant.reading(calm, M))
    plant.seen([off, calm], M + timedelta(seconds=30))
    device_type = off.type
    device_type.residual_threshold = 2.0
    device_type.save()
    scored = {
        r.device_id: r
        for r in scoring._score_type(
            tenant=tenant, device_type=device_type, devices=[off, calm], minute=M
        )
    }
    flags = [f for f in scored[off.id].flags if f["detector"] == "residual"]
    assert [f["metric"] for f in flags] == ["pressure"]
    z = flags[0]["score"]
    assert z > 2.0 and flags[0]["value"] == pytest.approx(50.0 + 2 * spread)
    result = scored[off.id]
    assert result.detector == "residual" and result.flagged
    assert result.anomaly == pytest.approx(z / 2.0, rel=1e-3)
    assert result.drivers[0]["metric"] == "pressure" and result.drivers[0]["share"] > 0.4
    active = scoring.registry.active_model(tenant=tenant, device_type=device_type, kind="anomaly")
    assert active is not None
    model = active.artefact
    latest = scoring.minute_means(
        tenant_id=tenant.id,
        device_ids=[off.id],
        metrics=model.signals,
        start=M,
        end=M + timedelta(minutes=1),
    )
    assert model.score(latest.droplevel("minute"))[0] < 1.0  # the type-wide model: normal
    assert not [f for f in scored[calm.id].flags if f["detector"] == "residual"]
    assert not scored[calm.id].flagged
    # The device's prediction says the same, to its tenant only.
    assert baselines.device_residual_flags(device=off, minute=M) == flags
    scoring.scores_apply(tenant=tenant, minute=M)
    url = f"/api/v1/devices/{off.id}/prediction"
    body = api_as(viewer).get(url).json()
    assert body["flags"] == scored[off.id].flags and body["flags"][0] == flags[0]
    assert api_as(other_admin).get(url).status_code == 404
    # The type's threshold decides: far above the residual, no flag and no spell.
    device_type.residual_threshold = 50.0
    device_type.save()
    again = scoring._score_type(tenant=tenant, device_type=device_type, devices=[off], minute=M)
    assert not [f for f in again[0].flags if f["detector"] == "residual"]
    assert again[0].detector != "residual" and not again[0].flagged


def test_a_fit_from_before_a_long_silence_scores_nothing(fitted, tenant) -> None:
    later = FITTED + timedelta(hours=3)  # longer than the residual gap: a repair, say
    off = fitted[0]
    plant.store(plant.reading(off, later, pressure=80.0))
    plant.seen([off], later + timedelta(seconds=30))
    scored = scoring._score_type(tenant=tenant, device_type=off.type, devices=[off], minute=later)
    assert not [f for f in scored[0].flags if f["detector"] == "residual"]
    assert scored[0].detector != "residual"


def test_another_tenant_s_devices_get_no_fit_from_this_tenant(fitted, tenant, other_tenant) -> None:
    theirs = plant.pumps(other_tenant, 1)
    plant.store(plant.normal(theirs, start=FITTED - timedelta(hours=3), minutes=181))
    plant.seen(theirs, FITTED + timedelta(seconds=30))
    scoring.scores_apply(tenant=other_tenant, minute=FITTED)  # no anomaly model of their own
    assert not DeviceBaseline.objects.filter(device__tenant=other_tenant).exists()
    assert set(DeviceBaseline.objects.values_list("tenant_id", flat=True)) == {tenant.id}
