"""Load test: N concurrent browser sessions move a label slider and retrain stage 2 for a while.

One `streamlit run app.py` server on loopback and one headless Chromium with a Playwright context
per session (each context is an independent Streamlit session). `make test` runs a short version
(LOAD_SESSIONS=3, LOAD_SECONDS=15); `make load` the full one (10 sessions, 60 s). The class training
all stages at once is in test_classroom.py. Asserts zero errors; prints and writes to
artifacts/load.json the latencies and the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from urllib.parse import urlparse

import pytest
from browser_util import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, require_browser, streamlit_server
from load_util import (
    FIRST_LOAD_MS,
    IDLE,
    LABEL_SLIDER,
    SESSIONS,
    STEP_MS,
    MemorySampler,
    WsRuns,
    cores_used,
    cpu_snapshot,
    pct,
    rss_mb,
    server_pid,
)

pytestmark = [pytest.mark.load, pytest.mark.browser]

SECONDS = float(os.environ.get("LOAD_SECONDS", "15"))
WORLD = "data=world&g_users=300&g_items=120&g_inter=6000"  # small: one stage 1 + 2 training takes seconds
TRAIN_MS = 120_000
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
