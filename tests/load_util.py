"""What the load tests share: a page's script runs counted from its websocket, the server's process,
its memory and CPU, and percentiles. Not a test module (no ``test_`` prefix)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from benchmarks.classroom import LABEL_SLIDER  # noqa: F401  (the load tests import it from here)
from benchmarks.procstats import (  # noqa: F401  (the load tests import them from here)
    MemorySampler,
    children_rss_mb,
    cores_used,
    cpu_snapshot,
    descends,
    pct,
    rss_mb,
    server_pid,
)

SESSIONS = int(os.environ.get("LOAD_SESSIONS", "3"))  # browser sessions (`make load`: 10)
STEP_MS = 60_000  # any single page run or navigation
FIRST_LOAD_MS = 120_000  # the first session generates the world
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"


class WsRuns:
    """A page's script runs as its websocket carries them: full runs finished, rerun requests sent.

    Issue 14's "dropped slider move" was a run counted from the DOM marker: the move reached the
    server and its run finished, but the marker never showed `running`, so the wait timed out.
    """

    def __init__(self, page, on_stall=None) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.full = self.requests = 0
        self.on_stall = on_stall  # called (no arguments) just before a wait times out
        full = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)

        def received(payload) -> None:
            if isinstance(payload, bytes | bytearray):
                msg = ForwardMsg.FromString(bytes(payload))
                if msg.WhichOneof("type") == "script_finished" and msg.script_finished in full:
                    self.full += 1

        def sent(payload) -> None:
            if isinstance(payload, bytes | bytearray):
                msg = BackMsg.FromString(bytes(payload))
                if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
                    self.requests += 1

        page.on("websocket", lambda ws: (ws.on("framereceived", received), ws.on("framesent", sent)))

    async def after(self, page, action, what: str, timeout: float = STEP_MS) -> None:
        """Do ``action``; wait until a full run that began after it has finished (polled every 50 ms)."""
        done, asked = self.full, self.requests
        await action()
        deadline = time.monotonic() + timeout / 1000
        while self.full <= done:
            if time.monotonic() > deadline:
                if self.on_stall is not None:
                    self.on_stall()
                reached = ("reached the server, but no run finished" if self.requests > asked
                           else "never reached the server (no rerun request was sent)")
                raise TimeoutError(f"{what} {reached} within {timeout / 1000:.0f} s")
            await page.wait_for_timeout(50)


def background_chromium(folder: Path, chromium: str) -> str:
    """A Chromium in the idle scheduling class (SCHED_IDLE), as an executable path for Playwright; pair it
    with ``BrowsersInBackground``. The idle class is inherited by every process and thread it starts and,
    unlike a nice value, is not undone when Chromium re-nices its processes (to 0, and -8 for its display
    threads, as root)."""
    wrapper = folder / "chromium-idle"
    wrapper.write_text(f'#!/bin/sh\nexec chrt --idle 0 "{chromium}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


class BrowsersInBackground(threading.Thread):
    """Keeps this test's Chromium processes on the CPU the lab leaves idle, as if they ran on the class's
    laptops, until stopped.

    On the test's 2 cores, ten Chromium renderers took 1.1-1.3 cores even in the idle class, and the
    training workers 0.5: with the kernel's autogroups on (``/proc/sys/kernel/sched_autogroup_enabled``),
    CPU is first shared between sessions, and Chromium starts its own (its zygote calls setsid), so each
    browser session weighed as much as the server and its workers together. Every 0.5 s this gives the
    autogroup of each Chromium process of ours a lower weight (``nice``; 19 is the lowest). Without
    autogroups it does nothing, and the idle class alone holds.
    """

    def __init__(self, nice: int = 19, every: float = 0.5) -> None:
        super().__init__(daemon=True, name="load-browsers")
        self.nice, self.every, self.reniced = nice, every, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        done: set[int] = set()
        while not self._stop_event.is_set():
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit() or int(proc.name) in done:
                    continue
                try:
                    if b"chrom" not in (proc / "cmdline").read_bytes()[:200] or not descends(int(proc.name)):
                        continue
                    (proc / "autogroup").write_text(str(self.nice))
                    done.add(int(proc.name))
                    self.reniced += 1
                except OSError:
                    continue
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


