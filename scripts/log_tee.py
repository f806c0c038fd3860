"""`make run`'s log splitter: ``<process> | log_tee.py NAME FILE``.

Every line read from stdin goes to FILE; the lines a person must see (warnings, errors,
tracebacks and what belongs to them) also go to the console (stderr), prefixed with ``[NAME]``.
Celery's and uvicorn's INFO lines (a beat tick every few seconds) then stay in the file and the
banner with the URL and the logins stays on the screen.

Standard library only; Ctrl-C is left to the process that writes: the tee ends when its input
does, so the last lines of a stopping process still reach the file and the console.
"""

import re
import signal
import sys
from pathlib import Path
from typing import BinaryIO, TextIO

# A log record of warning level or above in the formats that run under `make run`: Python's
# logging ("... WARNING name: ..."), Celery ("[... WARNING/MainProcess] ...") and uvicorn
# ("ERROR:    ..."); a command-line error ("Error: Invalid value for ..."); the sentences that
# chain one traceback to the next.
LOUD = re.compile(
    r"\b(WARNING|WARN|ERROR|CRITICAL|FATAL)\b"
    r"|^Error: "
    r"|^During handling of the above exception"
    r"|^The above exception was the direct cause"
)
TRACEBACK = "Traceback (most recent call last)"
# Python's warnings: "<file>:<line>: <Category>Warning: <message, maybe several lines>" and then
# the indented source line. The message is echoed up to that line, but at most this many lines
# (a warning printed without its source line must not take over the console).
PY_WARNING = re.compile(r":\d+: [A-Z]\w*Warning: ")
PY_WARNING_MAX_LINES = 12


def tee(name: str, source: BinaryIO, log: BinaryIO, console: TextIO) -> None:
    """Copy ``source`` to ``log`` line by line; echo the loud lines to ``console``.

    A loud record's continuation lines (indented, the whole traceback up to and including its
    exception line, a Python warning's message up to its source line) are echoed with it."""
    echoing = False  # inside a loud record: its indented continuation lines are echoed too
    in_traceback = False  # inside a traceback: echoed up to the unindented exception line
    warning_lines = 0  # inside a Python warning: lines left to echo up to its source line
    for raw in iter(source.readline, b""):
        log.write(raw)
        log.flush()
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        indented = line[:1].isspace()
        if in_traceback:
            show = True
            in_traceback = indented  # the first unindented line is the exception: the last one
            echoing = in_traceback
        elif warning_lines:
            show = bool(line.strip())
            warning_lines = 0 if indented else warning_lines - 1  # the source line ends it
        elif line.startswith(TRACEBACK):
            show = echoing = in_traceback = True
        elif PY_WARNING.search(line):
            show, echoing, warning_lines = True, False, PY_WARNING_MAX_LINES
        elif LOUD.search(line):
            show = echoing = True
        elif echoing and indented and line.strip():
            show = True
        else:
            show = echoing = False
        if show:
            console.write(f"[{name}] {line}\n")
            console.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: log_tee.py NAME FILE", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    name, path = argv[1], Path(argv[2])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as log:
        tee(name, sys.stdin.buffer, log, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
