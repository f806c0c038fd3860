"""scripts/log_tee.py, `make run`'s log splitter: the file gets every line, the console only
warnings, errors and tracebacks, with the process's name in front."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from .. import servers

TEE = servers.ROOT / "scripts" / "log_tee.py"

OUTPUT = """\
[2025-01-01 10:00:00,000: INFO/MainProcess] beat: Starting...
[2025-01-01 10:00:05,000: INFO/MainProcess] Scheduler: Sending due task offline-sweep
[2025-01-01 10:00:06,000: WARNING/MainProcess] consumer: broker lost.
2025-01-01 10:00:07,000 INFO devices.simulation: started the simulated fleet of acme (pid 12)
2025-01-01 10:00:08,000 ERROR devices.simulation: tick failed
Traceback (most recent call last):
  File "/x/devices/simulation.py", line 190, in run
    self.tick()
    ^^^^^^^^^^^
ValueError: boom
2025-01-01 10:00:09,000 INFO devices.simulation: tick
INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)
ERROR:    Exception in ASGI application
/x/y.py:3: DeprecationWarning: old
  warnings.warn("old")
/x/celery/platforms.py:893: SecurityWarning: You're running the worker as root: this is
absolutely not recommended!

User information: uid=0 euid=0 gid=0 egid=0

  _warn_or_raise_security_error(egid, euid, gid, uid,
 -------------- worker@vm v5.7.0 (collider)
2025-01-01 10:00:10,000 CRITICAL celery.worker: unrecoverable
INFO:     Shutting down
Error: Invalid value for '-c' / '--concurrency'
a last line without a newline"""


def test_the_file_gets_everything_the_console_only_what_a_person_needs(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "worker.log"
    done = subprocess.run(
        [sys.executable, str(TEE), "worker", str(log)],
        input=OUTPUT.encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert log.read_text() == OUTPUT
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "[worker] [2025-01-01 10:00:06,000: WARNING/MainProcess] consumer: broker lost.",
        "[worker] 2025-01-01 10:00:08,000 ERROR devices.simulation: tick failed",
        "[worker] Traceback (most recent call last):",
        '[worker]   File "/x/devices/simulation.py", line 190, in run',
        "[worker]     self.tick()",
        "[worker]     ^^^^^^^^^^^",
        "[worker] ValueError: boom",
        "[worker] ERROR:    Exception in ASGI application",
        "[worker] /x/y.py:3: DeprecationWarning: old",
        '[worker]   warnings.warn("old")',
        "[worker] /x/celery/platforms.py:893: SecurityWarning: You're running the worker as root:"
        " this is",
        "[worker] absolutely not recommended!",
        "[worker] User information: uid=0 euid=0 gid=0 egid=0",
        "[worker]   _warn_or_raise_security_error(egid, euid, gid, uid,",
        "[worker] 2025-01-01 10:00:10,000 CRITICAL celery.worker: unrecoverable",
        "[worker] Error: Invalid value for '-c' / '--concurrency'",
    ]


def test_ctrl_c_leaves_the_tee_to_the_end_of_its_input(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the tee must keep the last lines a
    stopping process writes."""
    log = tmp_path / "web.log"
    tee = subprocess.Popen(
        [sys.executable, str(TEE), "web", str(log)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tee.stdin is not None
    tee.stdin.write(b"INFO:     Started server process\n")
    tee.stdin.flush()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not log.exists():  # opened once SIGINT is ignored
        time.sleep(0.05)
    tee.send_signal(signal.SIGINT)
    tee.stdin.write(b"ERROR:    Cancel 1 running task(s), timeout graceful shutdown exceeded\n")
    tee.stdin.close()
    assert tee.wait(timeout=10) == 0
    assert tee.stderr is not None and b"[web] ERROR:    Cancel" in tee.stderr.read()
    assert log.read_text().splitlines()[-1].startswith("ERROR:    Cancel")
