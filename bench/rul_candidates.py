"""The RUL candidates on a validation fleet: how far the training fleet's cross-validation can
be trusted to choose among them.

    .venv/bin/python bench/rul_candidates.py [--seed 1] [--validation-seed 3] [--devices 50]
        [--days 90] [--cache DIR] [--types pump,motor] [--save FILE.pkl]

For each device type of a generated training fleet (``--seed``), every lifetime candidate
(``analytics.ml.lifetime.CANDIDATES``, in wall hours and on the use clock) is cross-validated
over the training fleet's failed lives as the trainer does (``lifetime_choice.lifetime_choose``),
then fitted on all of them and measured on a third fleet (``--validation-seed``): within ±15 %
over the last 20 % of each failure's life (averaged over failures) and the RMSE, beside the
rank correlation of the two and what the trainer's rule picked. The validation fleet must not be
the simulator evaluation's held-out one (seed 2): that is measured once, by
``manage.py evaluate_simulator``, after a choice made here. ``--save`` keeps every candidate's
predictions (both fleets) for trying choice rules without refitting.
"""

import argparse
import os
import pickle
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotplatform.settings.local")

if TYPE_CHECKING:
    from demo.fleet_history import Fleet

HELD_OUT_SEED = 2  # evaluate_simulator's held-out fleet: never read here


def fleet(seed: int, devices: int, days: float, cache: Path, name: str) -> "Fleet":
    from demo.fleet_history import END, INTERVAL, load
    from simulator.fleet import Rates, make_fleet
    from simulator.history import generate

    path = cache / f"fleet-{devices}-{days:g}-{seed}"
    if not (path / "devices.csv").is_file():
        rates = Rates()
        generate(
            make_fleet(devices, seed, rates),
            path,
            start=END - days * 86_400,
            end=END,
            interval=INTERVAL,
            rates=rates,
            parquet=True,
        )
    return load(path, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validation-seed", type=int, default=3)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--days", type=float, default=90.0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/rul-fleets"))
    parser.add_argument("--types", default="")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    if HELD_OUT_SEED in (args.seed, args.validation_seed):
        parser.error(f"seed {HELD_OUT_SEED} is the simulator evaluation's held-out fleet")
    if args.seed == args.validation_seed:
        parser.error("--validation-seed must differ from --seed")

    import django

    django.setup()
    import numpy as np
    from scipy.stats import spearmanr

    from analytics.ml import lifetime, lifetime_choice, rul
    from analytics.ml.clock import clock_fit
    from demo.management.commands.evaluate_simulator import last_of_lives, type_lives

    args.cache.mkdir(parents=True, exist_ok=True)
    train = fleet(args.seed, args.devices, args.days, args.cache, "training")
    check = fleet(args.validation_seed, args.devices, args.days, args.cache, "validation")
    wanted = [t for t in args.types.split(",") if t]
    saved = {}
    for kind in train.devices["type"].unique():
        if wanted and kind not in wanted:
            continue
        started = time.monotonic()
        metrics = list(train.minutes[train.types() == kind].dropna(axis=1, how="all").columns)
        x, lives = type_lives(train, kind, metrics)
        end_h = float(np.nanmax(lives.now_h))
        coefficients = lifetime.new_device_fit(x, lives)
        levels = lifetime.new_device_levels(x, lives)
        features = lifetime.life_features(x, lives, coefficients, levels=levels)
        clock = clock_fit(x)
        choice = lifetime_choice.lifetime_choose(
            features, metrics, coefficients, lives, end_h=end_h, clock=clock
        )
        test_x, test_lives = type_lives(check, kind, metrics)
        test = lifetime.life_features(test_x, test_lives, coefficients, levels=levels)
        truth = check.rul[check.types() == kind]
        life = last_of_lives(check, truth.index).to_numpy()
        end = life >= 0
        actual = truth["rul_seconds"].to_numpy()[end] / 3600
        validation = {}
        for name in choice.shares:
            on = clock if name.endswith(lifetime_choice.USE) else None
            model = lifetime.lifetime_fit(
                features,
                metrics,
                coefficients,
                lives,
                name.removesuffix(lifetime_choice.USE),
                end_h=end_h,
                every=lifetime.TRAIN_EVERY,
                clock=on,
                levels=levels,
            )
            validation[name] = model.point(test[end])
        names = list(choice.shares)
        val_share = {n: lifetime_choice.within(validation[n], actual, life[end]) for n in names}
        val_rmse = {n: rul.rmse(validation[n], actual) for n in names}
        rho = spearmanr([choice.shares[n] for n in names], [val_share[n] for n in names])[0]
        print(
            f"{kind}: {choice.lives} training lives, {len(np.unique(life[end]))} validation "
            f"failures, chosen {choice.name}, Spearman(cv, validation share) {rho:.2f}, "
            f"{time.monotonic() - started:.0f} s"
        )
        print(f"  {'candidate':<22}{'cv share':>9}{'cv rmse':>9}{'val share':>10}{'val rmse':>9}")
        for n in sorted(names, key=lambda n: -choice.shares[n]):
            mark = " <- chosen" if n == choice.name else ""
            print(
                f"  {n:<22}{choice.shares[n]:>9.0%}{choice.rmses[n]:>9.1f}"
                f"{val_share[n]:>10.0%}{val_rmse[n]:>9.1f}{mark}"
            )
        cv_actual = lives.hours_left[choice.measured]
        saved[kind] = {
            "cv": (choice.measured_points, cv_actual, lives.life[choice.measured]),
            "validation": (validation, actual, life[end]),
            "chosen": choice.name,
        }
        sys.stdout.flush()
    if args.save:
        args.save.write_bytes(pickle.dumps(saved))


if __name__ == "__main__":
    main()
