"""``HOME/node.pid``: which process runs a node home.

``meterchain devnet down`` must stop a node however it was started: by ``devnet up``, or
restarted by hand with ``meterchain node run --home HOME`` (a new pid that ``devnet.json``
does not know). So the daemon writes its pid here once it holds the home's store, and
removes the file when it stops cleanly.

The file also holds the process's start time (field 22 of ``/proc/<pid>/stat``, clock
ticks since boot). A node killed with SIGKILL leaves the file behind, and the system may
give its pid to another program later; that program has another start time, so it is
never mistaken for the node and never signalled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

PID_FILE: Final = "node.pid"


def start_time(pid: int) -> int | None:
    """The start time of a live (not zombie) process, or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: field 3 (state) is fields[0], field 22 (starttime) is fields[19].
    if len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def write(home: Path) -> None:
    """Record this process as the one running ``home`` (written whole, then renamed)."""
    pid = os.getpid()
    record = {"pid": pid, "start_time": start_time(pid)}
    partial = home / (PID_FILE + ".partial")
    partial.write_text(json.dumps(record) + "\n", encoding="utf-8")
    partial.replace(home / PID_FILE)


def remove(home: Path) -> None:
    """Remove the record if it names this process (a later process's record stays)."""
    if running(home) == os.getpid():
        (home / PID_FILE).unlink(missing_ok=True)


def running(home: Path) -> int | None:
    """The pid of the live process recorded as running ``home``, or None."""
    try:
        record = json.loads((home / PID_FILE).read_text(encoding="utf-8"))
        pid, started = int(record["pid"]), record["start_time"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if started is not None and start_time(pid) == started else None
