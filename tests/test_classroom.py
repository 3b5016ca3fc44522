"""Load test: a class trains all stages on the sample world at the same moment, and keeps using the lab.

One `streamlit run app.py` server on loopback and one headless Chromium with a Playwright context per
learner. `make test` runs 3 learners; `make load` 10 (LOAD_SESSIONS). Prints and writes to
artifacts/classroom.json how many trainings finished, their times, the page interactions' times, the
server's and the workers' memory and the machine's load.
"""

from __future__ import annotations

import asyncio
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
    STEP_MS,
    MemorySampler,
    WsRuns,
    children_rss_mb,
    pct,
    server_pid,
)

pytestmark = [pytest.mark.load, pytest.mark.browser]

SESSIONS = int(os.environ.get("LOAD_SESSIONS", "3"))
LABEL_SLIDER = "Click weight w₁"
CLASS_TRAIN_MS = 900_000  # a class shares the workers: the last of N trainings waits for the others


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
