"""``python -m simulator``: ``history`` writes long histories; ``run`` plays a live fleet
against the platform."""

import argparse
import logging
import sys
import time
from pathlib import Path

from .fleet import Rates, make_fleet


def duration(text: str) -> float:
    """``5s``, ``2m``, ``1h``, ``1d`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 5s, 2m, 1h") from None


def _history(args: argparse.Namespace) -> int:
    from .history import generate

    rates = Rates(anomalies_per_day=args.anomalies_per_day, mean_life_days=args.mean_life_days)
    fleet = make_fleet(args.devices, args.seed, rates)
    end = args.end if args.end is not None else time.time() // 60 * 60
    start = end - args.days * 86400

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total:
            print(f"\r{done}/{total} devices", end="" if done < total else "\n", file=sys.stderr)

    result = generate(
        fleet,
        Path(args.out),
        start=start,
        end=end,
        interval=args.interval,
        rates=rates,
        parquet=args.parquet,
        in_service=args.in_service,
        progress=progress,
    )
    print(
        f"{result['points']:,} points of {result['devices']} devices in "
        f"{result['seconds']:.1f} s ({result['points_per_s']:,.0f} points/s) → {args.out}"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from .live import LiveRunner

    runner = LiveRunner(
        url=args.url,
        tenant_key=args.tenant_key,
        devices=args.devices,
        seed=args.seed,
        interval=args.interval,
        state_dir=Path(args.state_dir),
        tokens_file=args.tokens,
        rates=Rates(anomalies_per_day=args.anomalies_per_day, mean_life_days=args.mean_life_days),
        time_scale=args.time_scale,
        duplicate_rate=args.duplicate_rate,
        command_poll=args.command_poll,
        mqtt_url=args.mqtt,
    )
    return runner.run(duration=args.duration)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--devices", type=int, default=50)
    common.add_argument("--seed", type=int, default=42)
    common.add_argument("--anomalies-per-day", type=float, default=2.0)
    common.add_argument(
        "--mean-life-days", type=float, default=30.0, help="mean time from new to failure"
    )

    history = sub.add_parser("history", parents=[common], help="write a long history")
    history.add_argument("--days", type=float, default=90)
    history.add_argument("--interval", type=duration, default=60.0)
    history.add_argument("--end", type=float, default=None, help="epoch seconds; default now")
    history.add_argument("--out", required=True)
    history.add_argument("--parquet", action="store_true")
    history.add_argument(
        "--in-service",
        action="store_true",
        help="devices already some way into their first life at the start (default: new); "
        "the live run continues the wear the history ends with (wear.json)",
    )
    history.set_defaults(func=_history)

    run = sub.add_parser("run", parents=[common], help="play a live fleet against the platform")
    run.add_argument("--url", required=True)
    run.add_argument("--tenant-key", default=None, help="ingestion key: provisions the fleet")
    run.add_argument("--tokens", default=None, help="file of 'serial token' lines instead")
    run.add_argument("--interval", type=duration, default=5.0)
    run.add_argument("--state-dir", default=".simulator")
    run.add_argument("--duration", type=duration, default=None, help="stop after; default never")
    run.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per real second for wear (demo: wear out faster)",
    )
    run.add_argument(
        "--duplicate-rate",
        type=float,
        default=0.01,
        help="share of batches sent twice, as flaky networks do",
    )
    run.add_argument(
        "--command-poll",
        type=duration,
        default=10.0,
        help="how often each device asks for commands (0: never)",
    )
    run.add_argument(
        "--mqtt",
        default=None,
        metavar="URL",
        help="send readings and take commands over MQTT (mqtt://host:port, the platform's "
        "broker; each device logs in with its token); provisioning still uses --url",
    )
    run.set_defaults(func=_run)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s simulator %(message)s")
    return int(args.func(args))
