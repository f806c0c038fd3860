"""A local SMTP server that accepts every message and keeps it: one ``.eml`` file per message
in the directory given, and a line per message in ``index.log`` there (time, sender,
recipients, subject). ``make run`` starts it on 127.0.0.1:8025 writing to ``.logs/mail/``.

    python -m iotplatform.devservers.mail_sink --port 8025 --dir .logs/mail

``--delay-data`` and ``--delay-rcpt`` hold the answers to the end of a message and to each
recipient, for the first ``--delay-count`` of them (the tests kill a sender while it waits).
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class Keeper:
    def __init__(self, directory: Path, delay_data: float, delay_rcpt: float, count: int) -> None:
        self.directory = directory
        self.delay_data = delay_data
        self.delay_rcpt = delay_rcpt
        self.counter = itertools.count(1)
        self.delays = {"data": count, "rcpt": count}

    async def _hold(self, step: str, seconds: float) -> None:
        if seconds and self.delays[step] > 0:
            self.delays[step] -= 1
            await asyncio.sleep(seconds)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await self._hold("rcpt", self.delay_rcpt)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        n = next(self.counter)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        data = envelope.content if isinstance(envelope.content, bytes) else b""
        name = self.directory / f"{stamp}-{n:05d}.eml"
        tmp = name.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.rename(name)  # readers never see half a message
        subject = email.message_from_bytes(data, policy=email.policy.default)["Subject"]
        with (self.directory / "index.log").open("a") as index:
            index.write(
                f"{time.strftime('%Y-%m-%d %H:%M:%S')} {name.name} from {envelope.mail_from} "
                f"to {', '.join(envelope.rcpt_tos)}: {subject}\n"
            )
        await self._hold("data", self.delay_data)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path(".logs/mail"))
    parser.add_argument("--delay-data", type=float, default=0.0)
    parser.add_argument("--delay-rcpt", type=float, default=0.0)
    parser.add_argument("--delay-count", type=int, default=1_000_000_000)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(
        Keeper(args.dir, args.delay_data, args.delay_rcpt, args.delay_count),
        hostname=args.host,
        port=args.port,
    )
    controller.start()
    print(f"mail sink on {args.host}:{args.port}, keeping messages in {args.dir}/", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        loop.run_until_complete(stopped.wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
