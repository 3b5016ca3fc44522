"""Load test: N concurrent browser sessions move a label slider and retrain stage 2 for a while.

One `streamlit run app.py` server on loopback and one headless Chromium with a Playwright context
per session (each context is an independent Streamlit session). `make test` runs a short version
(LOAD_SESSIONS=3, LOAD_SECONDS=15); `make load` the full one (10 sessions, 60 s) and the classroom.
Asserts zero errors; prints and writes to artifacts/load.json and classroom.json the latencies and the
server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from browser_util import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_browser, streamlit_server

pytestmark = [pytest.mark.load, pytest.mark.browser]

SECONDS = float(os.environ.get("LOAD_SECONDS", "15"))
SESSIONS = int(os.environ.get("LOAD_SESSIONS", "3"))
WORLD = "data=world&g_users=300&g_items=120&g_inter=6000"  # small: one stage 1 + 2 training takes seconds
FIRST_LOAD_MS = 120_000  # the first session generates the world
STEP_MS = 60_000  # any single page run or navigation
TRAIN_MS = 120_000
CLASS_TRAIN_MS = 900_000  # a class shares the workers: the last of N trainings waits for the others
LABEL_SLIDER = "Click weight w₁"
FORM_SLIDER = "Max depth"
SUBMIT = re.compile(r"(Train|Retrain) Stage 2")  # the icon name precedes the label in the text

# Browser-side timestamps of the last key press and of the run-state marker's changes, for the split of a
# slider move's time. Not for counting runs: a fast rerun's `running` and `notRunning` may reach the DOM in
# one React render (the observer then sees no run) and fragment polls flip the marker too; see WsRuns.
WATCH_RUNS = """() => {
  if (window.__loadRuns) return;
  const w = window.__loadRuns = {done: 0, running: false, keyAt: 0, startedAt: 0, doneAt: 0};
  const record = () => {
    const app = document.querySelector('[data-testid=stApp]');
    const s = app && app.getAttribute('data-test-script-state');
    if (s === 'running' && !w.running) { w.running = true; w.startedAt = performance.now(); }
    else if (s === 'notRunning' && w.running) { w.running = false; w.done += 1; w.doneAt = performance.now(); }
  };
  new MutationObserver(record).observe(document,
    {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
  document.addEventListener('keydown', () => { w.keyAt = performance.now(); }, true);
  record();
}"""
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"


class WsRuns:
    """A page's script runs as its websocket carries them: full runs finished, rerun requests sent.

    Issue 14's "dropped slider move" was a run counted from the DOM marker: the move reached the
    server and its run finished, but the marker never showed `running`, so the wait timed out.
    """

    def __init__(self, page) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.full = self.requests = 0
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
                reached = ("reached the server, but no run finished" if self.requests > asked
                           else "never reached the server (no rerun request was sent)")
                raise TimeoutError(f"{what} {reached} within {timeout / 1000:.0f} s")
            await page.wait_for_timeout(50)


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
        while pid > 1 and pid in procs:
            if pid == os.getpid():
                return True
            pid = procs[pid][0]
        return False

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


class Session:
    """One browser context looping slider → idle, then stage-2 retrain, until the deadline."""

    def __init__(self, index: int, browser, url: str) -> None:
        self.index, self.browser, self.url = index, browser, url
        self.context = self.page = None
        self.step = "start"  # what the session was doing, for error messages
        self.slider_s: list[float] = []
        self.key_to_idle_s: list[float] = []
        self.to_running_s: list[float] = []
        self.running_s: list[float] = []
        self.train_s: list[float] = []
        self.server_train_s: list[float] = []
        self.errors: list[str] = []
        self.unseen = 0  # slider runs the DOM marker never showed as running (see WsRuns)
        self.console_errors: list[str] = []  # reported, not asserted: the browser logs e.g. failed fetches
        self.failed = asyncio.Event()

    def error(self, what: str) -> None:
        self.errors.append(f"session {self.index}: {what}")
        self.failed.set()

    async def unless_failed(self, awaitable) -> None:
        """Await, but give up as soon as the session has an error (a page error cannot be waited out)."""
        task, failed = asyncio.ensure_future(awaitable), asyncio.ensure_future(self.failed.wait())
        await asyncio.wait({task, failed}, return_when=asyncio.FIRST_COMPLETED)
        for t in (task, failed):
            t.cancel()
        if task.done() and not task.cancelled():
            task.result()  # re-raise a timeout
        elif self.errors:
            raise RuntimeError("stopped after an error")

    async def check_page(self, page, step: str) -> None:
        """Tracebacks and error boxes count as errors (none are expected in this flow)."""
        if await page.locator("[data-testid=stException]").count():
            text = await page.locator("[data-testid=stException]").first.inner_text()
            self.error(f"{step}: exception shown: {text[:300]}")
        for text in await page.locator("[data-testid=stAlertContentError]").all_inner_texts():
            self.error(f"{step}: st.error: {text[:300]}")

    async def wait_idle(self, page, timeout: float = STEP_MS) -> None:
        await page.wait_for_selector(IDLE, timeout=timeout)

    async def goto(self, page, link: str, marker: str) -> None:
        """Switch page through the sidebar (same session), then wait for its run to finish."""
        nav = page.locator("[data-testid=stSidebarNav] a", has_text=link)
        await self.runs.after(page, lambda: nav.click(timeout=STEP_MS), f"the switch to {link}")
        await page.get_by_role("slider", name=marker).wait_for(timeout=STEP_MS)
        await self.wait_idle(page)

    async def move_slider(self, page, name: str, key: str) -> float:
        """Press an arrow key on a slider; seconds until the run it triggers has finished.

        Also keeps browser-side times from the keydown event: key → script running (the widget message
        reaching the server and the rerun starting) and running → idle (the run and its rendering).
        The rest of the end-to-end time is the key waiting for a busy renderer to dispatch it.
        """
        slider = page.get_by_role("slider", name=name)
        await slider.focus(timeout=STEP_MS)
        before = await page.evaluate("() => window.__loadRuns.done")
        t0 = time.monotonic()
        await self.runs.after(page, lambda: slider.press(key), "the slider move")
        elapsed = time.monotonic() - t0
        await self.wait_idle(page)
        w = await page.evaluate("() => window.__loadRuns")
        if w["done"] == before:
            self.unseen += 1
        if w["keyAt"] <= w["startedAt"] <= w["doneAt"]:
            self.key_to_idle_s.append((w["doneAt"] - w["keyAt"]) / 1000)
            self.to_running_s.append((w["startedAt"] - w["keyAt"]) / 1000)
            self.running_s.append((w["doneAt"] - w["startedAt"]) / 1000)
        return elapsed

    async def train(self, page, key: str) -> None:
        """Change a form value, submit, and wait for "Trained …" (or an error box)."""
        depth = page.get_by_role("slider", name=FORM_SLIDER)
        await depth.focus(timeout=STEP_MS)
        await depth.press(key)  # inside the form: no rerun until submit
        success = page.locator("[data-testid=stAlertContentSuccess]", has_text="Trained ")
        failed = page.locator("[data-testid=stAlertContentError]")
        button = page.locator("[data-testid=stFormSubmitButton] button", has_text=SUBMIT)
        t0 = time.monotonic()
        await button.click(timeout=STEP_MS)
        await self.unless_failed(success.or_(failed).first.wait_for(timeout=TRAIN_MS))
        elapsed = time.monotonic() - t0
        if await success.count():
            self.train_s.append(elapsed)
            m = re.search(r" in ([\d.]+) s", await success.first.inner_text())
            if m:
                self.server_train_s.append(float(m.group(1)))
        await self.wait_idle(page, TRAIN_MS)

    async def open(self) -> None:
        """A fresh context on the Stage 2 page of the small generated world."""
        self.context = await self.browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = page = await self.context.new_page()
        self.runs = WsRuns(page)
        page.on("pageerror", lambda exc: self.error(f"page error during {self.step}: {exc}"))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text[:200]))
        await page.add_init_script(f"({WATCH_RUNS})()")
        self.step = "first load"
        try:
            await page.goto(f"{self.url}/Stage_2_GBDT?{WORLD}", timeout=FIRST_LOAD_MS)
            await page.get_by_role("slider", name=FORM_SLIDER).wait_for(timeout=FIRST_LOAD_MS)
            await self.wait_idle(page, FIRST_LOAD_MS)
            await self.check_page(page, "first load")
        except Exception as exc:
            self.error(f"first load: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")

    async def loop(self, deadline: float) -> None:
        """Slider then training, again and again; an iteration begun before the deadline is finished."""
        page, i = self.page, 0
        try:
            while time.monotonic() < deadline and not self.errors:
                key = "ArrowRight" if i % 2 == 0 else "ArrowLeft"  # stay inside the sliders' ranges
                self.step = f"iteration {i}: labels page"
                await self.goto(page, "Labels", LABEL_SLIDER)
                self.step = f"iteration {i}: label slider"
                self.slider_s.append(await self.move_slider(page, LABEL_SLIDER, key))
                await self.check_page(page, self.step)
                self.step = f"iteration {i}: stage 2 page"
                await self.goto(page, "Stage 2", FORM_SLIDER)
                self.step = f"iteration {i}: train stage 2"
                await self.train(page, key)
                await self.check_page(page, self.step)
                i += 1
        except Exception as exc:  # a timeout (or a crashed page) is an error of this session
            self.error(f"{self.step}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        if self.errors:
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(ARTIFACTS / f"load-session-{self.index}.png"), full_page=True)

    async def close(self) -> None:
        await self.context.close()


async def drive(url: str, sessions: int, seconds: float, pid: int) -> tuple[list[Session], dict]:
    """Open every session, then load the server for `seconds` (the clock starts once all are open)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            runs = [Session(i, browser, url) for i in range(sessions)]
            t0 = time.monotonic()
            await asyncio.gather(*(s.open() for s in runs))
            start = cpu_snapshot(pid)
            await asyncio.gather(*(s.loop(start["time"] + seconds) for s in runs))
            end = cpu_snapshot(pid)
            await asyncio.gather(*(s.close() for s in runs))
            phases = {"open_seconds": round(start["time"] - t0, 1),
                      "load_seconds": round(end["time"] - start["time"], 1),
                      "cores_during_load": cores_used(start, end)}
            return runs, phases
        finally:
            await browser.close()


def test_concurrent_sessions_slide_and_train(tmp_path):
    require_browser()
    load_before = os.getloadavg()
    t0 = time.monotonic()
    # saved runs go to a temporary folder so the load test leaves runs/ alone
    with streamlit_server(env={"LAB_RUNS_DIR": str(tmp_path / "runs")}) as url:
        pid = server_pid(urlparse(url).port)
        assert pid is not None, f"no streamlit process found for {url}"
        baseline = rss_mb(pid)
        sampler = MemorySampler(pid)
        sampler.start()
        try:
            runs, phases = asyncio.run(drive(url, SESSIONS, SECONDS, pid))
        finally:
            sampler.stop()
        final = rss_mb(pid)
    wall = time.monotonic() - t0

    def pooled(attr: str) -> list[float]:
        return [x for s in runs for x in getattr(s, attr)]

    slider, train, errors = pooled("slider_s"), pooled("train_s"), pooled("errors")
    summary = {
        "sessions": SESSIONS, "seconds": SECONDS, "wall_seconds": round(wall, 1),
        "interactions": len(slider), "trainings": len(train), "errors": len(errors),
        "slider_runs_unseen_by_dom_marker": sum(s.unseen for s in runs),
        "slider_to_idle_p50_s": pct(slider, 50), "slider_to_idle_p95_s": pct(slider, 95),
        "slider_to_idle_max_s": pct(slider, 100),
        **{f"slider_{name}_p{q}_s": pct(pooled(attr), q) for name, attr in (
            ("key_to_idle", "key_to_idle_s"), ("key_to_running", "to_running_s"),
            ("running_to_idle", "running_s")) for q in (50, 95)},
        "train_p50_s": pct(train, 50), "train_p95_s": pct(train, 95), "train_max_s": pct(train, 100),
        "server_train_p50_s": pct(pooled("server_train_s"), 50),
        "server_train_p95_s": pct(pooled("server_train_s"), 95),
        "server_rss_baseline_mb": round(baseline or 0, 1),
        "server_rss_peak_mb": round(max(sampler.samples, default=0), 1),
        "server_rss_final_mb": round(final or 0, 1),
        "server_rss_every_5s_mb": [round(x) for x in sampler.samples[::5]],  # growth vs plateau
        **phases,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "error_messages": errors[:20],
        "browser_console_errors": len(pooled("console_errors")),
        "browser_console_error_kinds": sorted(set(pooled("console_errors")))[:10],
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\nload: {SESSIONS} sessions × {SECONDS:.0f} s (wall {wall:.0f} s): {len(slider)} interactions, "
        f"{len(train)} trainings, {len(errors)} errors; slider→idle p50 {summary['slider_to_idle_p50_s']} s "
        f"p95 {summary['slider_to_idle_p95_s']} s; training p50 {summary['train_p50_s']} s "
        f"p95 {summary['train_p95_s']} s; server RSS peak {summary['server_rss_peak_mb']} MB "
        f"(baseline {summary['server_rss_baseline_mb']}, final {summary['server_rss_final_mb']}); "
        f"load avg {summary['loadavg_before'][0]} → {summary['loadavg_after'][0]}; "
        f"cores busy during load {phases['cores_during_load']}"
    )
    assert not errors, "\n".join(errors)
    assert slider, "no session completed a slider interaction"
    assert train, "no session completed a training"


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


class Learner:
    """One browser session of a class: open Home on the sample world, click "Train all stages" with
    everyone else, then keep using the lab (Labels slider, back Home) until its training is done."""

    def __init__(self, index: int, browser, url: str) -> None:
        self.index, self.browser, self.url = index, browser, url
        self.errors: list[str] = []
        self.interaction_s: list[float] = []
        self.train_s: float | None = None
        self.server_train_s: float | None = None

    async def open(self) -> None:
        self.context = await self.browser.new_context(viewport={"width": 1366, "height": 768})
        self.page = page = await self.context.new_page()
        self.runs = WsRuns(page)
        page.on("pageerror", lambda exc: self.errors.append(f"session {self.index}: page error: {exc}"))
        await page.goto(self.url, timeout=FIRST_LOAD_MS)
        await page.get_by_role("button", name=re.compile("Train all stages")).wait_for(timeout=FIRST_LOAD_MS)
        await page.wait_for_selector(IDLE, timeout=FIRST_LOAD_MS)

    async def timed(self, awaitable) -> None:
        t0 = time.monotonic()
        await awaitable
        self.interaction_s.append(time.monotonic() - t0)

    async def idle_after(self, action, what: str) -> None:
        """Do something that starts a script run; wait until that run has finished."""
        await self.runs.after(self.page, action, what)

    async def run(self, start: asyncio.Event) -> None:
        page = self.page
        success = page.locator("[data-testid=stAlertContentSuccess]", has_text="Trained ")
        failed = page.locator("[data-testid=stAlertContentError]")
        try:
            await start.wait()
            t0 = time.monotonic()
            await page.get_by_role("button", name=re.compile("Train all stages")).click(timeout=STEP_MS)
            i = 0
            # the "Trained …" message shows once, on whichever page is open then; the badge stays
            trained = page.get_by_test_id("stSidebar").get_by_text("Stage 3 · neural: trained")
            while not await success.count() and not await failed.count() and not await trained.count():
                if time.monotonic() - t0 > CLASS_TRAIN_MS / 1000:
                    raise TimeoutError("training did not finish")
                link = "Labels" if i % 2 == 0 else "Home"
                nav = page.locator("[data-testid=stSidebarNav] a", has_text=link)
                await self.timed(self.idle_after(lambda nav=nav: nav.click(timeout=STEP_MS), f"the switch to {link}"))
                if link == "Labels":
                    slider = page.get_by_role("slider", name=LABEL_SLIDER)
                    await slider.focus(timeout=STEP_MS)
                    key = "ArrowRight" if i % 4 == 0 else "ArrowLeft"
                    await self.timed(self.idle_after(lambda slider=slider, key=key: slider.press(key),
                                                     "the slider move"))
                i += 1
            if await failed.count():
                self.errors.append(f"session {self.index}: {(await failed.first.inner_text())[:200]}")
                return
            self.train_s = time.monotonic() - t0
            m = re.search(r" in ([\d.]+) s", await success.first.inner_text()) if await success.count() else None
            self.server_train_s = float(m.group(1)) if m else None
        except Exception as exc:
            self.errors.append(f"session {self.index}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")


async def classroom(url: str, sessions: int) -> list[Learner]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            learners = [Learner(i, browser, url) for i in range(sessions)]
            await asyncio.gather(*(s.open() for s in learners))
            start = asyncio.Event()
            tasks = [asyncio.ensure_future(s.run(start)) for s in learners]
            start.set()  # everyone clicks at once
            await asyncio.gather(*tasks)
            return learners
        finally:
            await browser.close()


@pytest.mark.timeout(CLASS_TRAIN_MS // 1000 + 300)  # the class's own deadline, not pytest's default 600 s
def test_a_class_trains_all_stages_at_once_while_using_the_lab(tmp_path):
    """Issue 14's classroom: every session trains all stages on the sample world at the same moment and keeps
    clicking around meanwhile. All must finish; timings and memory are reported, not asserted (the machine
    is shared: performance targets live in the benchmark). Only in `make load` for now: a 3-session form on
    the small world failed 1 run in 1 at load average 18 (a page switch's run took over 60 s)."""
    if "LOAD_SESSIONS" not in os.environ:
        pytest.skip("the classroom load test runs in `make load` (not yet reliable on busy shared cores)")
    require_browser()
    load_before = os.getloadavg()
    with streamlit_server(env={"LAB_RUNS_DIR": str(tmp_path / "runs")}) as url:
        pid = server_pid(urlparse(url).port)
        sampler = MemorySampler(pid)
        sampler.start()
        t0 = time.monotonic()
        try:
            learners = asyncio.run(classroom(url, SESSIONS))
        finally:
            sampler.stop()
        wall = time.monotonic() - t0
        workers_mb = children_rss_mb(pid)
    errors = [e for s in learners for e in s.errors]
    trains = [s.train_s for s in learners if s.train_s is not None]
    clicks = [x for s in learners for x in s.interaction_s]
    summary = {
        "sessions": SESSIONS, "finished": len(trains), "errors": errors[:20], "wall_s": round(wall, 1),
        "train_p50_s": pct(trains, 50), "train_p95_s": pct(trains, 95), "train_max_s": pct(trains, 100),
        "server_train_p95_s": pct([s.server_train_s for s in learners if s.server_train_s], 95),
        "interactions": len(clicks), "interaction_p50_s": pct(clicks, 50), "interaction_p95_s": pct(clicks, 95),
        "server_rss_peak_mb": round(max(sampler.samples, default=0), 1), "workers_rss_mb": round(workers_mb, 1),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "classroom.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nclassroom: {summary}")
    assert not errors, "\n".join(errors)
    assert len(trains) == SESSIONS, f"only {len(trains)} of {SESSIONS} trainings finished"
