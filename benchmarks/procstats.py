"""Processes for the benchmarks and the load tests: the app server started on a free loopback port, its pid
from its port, memory (RSS from /proc), CPU split between the server, browsers and the rest, and
percentiles. Linux only; psutil is not a dependency."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(log: Path, env: dict[str, str] | None = None, timeout: float = 90.0, port: int | None = None):
    """Yield the base URL of a fresh `streamlit run app.py` on loopback (its output in ``log``); stop it after.

    Its health is polled every 50 ms, so the time to the first yield is the server's start-up time."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log}")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()



def descends(pid: int, parent=lambda p: _stat(str(p))[0]) -> bool:
    """Is ``pid`` this process or one of its descendants? (``parent(pid)``: its parent's pid.)"""
    while pid > 1:
        if pid == os.getpid():
            return True
        try:
            pid = parent(pid)
        except (OSError, IndexError, ValueError, KeyError):
            return False
    return False


def server_pid(port: int) -> int | None:
    """The pid of `streamlit run … --server.port <port>` (browser_util keeps its Popen to itself)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "run" in args and "--server.port" in args and any("streamlit" in a for a in args):
            i = args.index("--server.port")
            if i + 1 < len(args) and args[i + 1] == str(port):
                return int(proc.name)
    return None


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB, from /proc (psutil is not a dependency)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MemorySampler(threading.Thread):
    """Samples a process's RSS once a second until stopped."""

    def __init__(self, pid: int, every: float = 1.0) -> None:
        super().__init__(daemon=True, name="load-rss")
        self.pid, self.every = pid, every
        self.samples: list[float] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            mb = rss_mb(self.pid)
            if mb is not None:
                self.samples.append(mb)
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _stat(pid: str) -> tuple[int, float]:
    """(parent pid, CPU seconds) of a process from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server: int) -> dict[str, float]:
    """CPU seconds so far of the server, of this test's Chromium processes, and of the whole machine."""
    procs: dict[int, tuple[int, float, bool]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid, cpu = _stat(proc.name)
                chrome = b"chrom" in (proc / "cmdline").read_bytes()[:200]
            except (OSError, IndexError, ValueError):
                continue
            procs[int(proc.name)] = (ppid, cpu, chrome)

    def ours(pid: int) -> bool:
        return descends(pid, lambda p: procs[p][0])

    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return {"time": time.monotonic(), "server": procs.get(server, (0, 0.0, False))[1],
            "browser": sum(cpu for pid, (_, cpu, chrome) in procs.items() if chrome and ours(pid)),
            "machine": (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")}


def cores_used(start: dict[str, float], end: dict[str, float]) -> dict[str, float]:
    """Mean cores busy between two snapshots: server, browser, everything else on the machine."""
    wall = max(end["time"] - start["time"], 1e-9)
    out = {k: round((end[k] - start[k]) / wall, 2) for k in ("server", "browser", "machine")}
    out["others"] = round(out["machine"] - out["server"] - out["browser"], 2)
    return out


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def children_rss_mb(pid: int) -> float:
    """Resident memory of a process's children (the training workers), in MB."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if _stat(proc.name)[0] == pid:
                    total += rss_mb(int(proc.name)) or 0.0
            except (OSError, IndexError, ValueError):
                continue
    return total
