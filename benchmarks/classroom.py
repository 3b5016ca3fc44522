"""A class on one server: every learner clicks "Train all stages" on the sample world at the same moment,
then keeps using the lab (switch to Labels, move a slider, back to Home, reading between) until every
training has ended. Issue 14's classroom, for `make bench` (protocol learners only) and the load test
`tests/test_classroom.py` (which adds learners in a real Chromium).

A protocol learner (``st_client``) sends the messages a browser sends, from this process: in a real class
each learner's browser runs on their own laptop, while ten Chromium tabs on the test machine took 1.1-1.3 of
its 2 cores from the server they were measuring. Reported: how many trainings finished; their times, end to
end and on the server (from its log: the click reaching the server → trained and saved, and how long each
job queued and trained); every page interaction's time (request → its run's end), split by learner kind; the
cores each side used; the server's and the workers' memory; the machine's load average.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import tempfile
import time
from pathlib import Path

from benchmarks.procstats import MemorySampler, children_rss_mb, cores_used, cpu_snapshot, pct, serve, server_pid
from benchmarks.st_client import StreamlitSession

ROOT = Path(__file__).resolve().parents[1]
THINK_S = float(os.environ.get("LOAD_THINK_S", "2"))  # a learner reads the page between two interactions
CLASS_TRAIN_S = 300.0  # a class shares the workers: the last of N trainings waits for the others
STEP_S = 60.0  # any single page run
LABEL_SLIDER = "Click weight w₁"
TRAINED_BADGE = "Stage 3 · neural: trained"  # the sidebar badge once the class's training is in
SERVER_ENV = {"LAB_TRAIN_ON_START": "0"}  # every learner trains all three stages: "trained" is news to its page


class Learner:
    """One learner of a class: open Home on the sample world, click "Train all stages" with everyone else,
    then keep using the lab (switch to Labels, move a slider, back Home, reading THINK_S between) until
    every learner's training has ended. Subclasses say how a learner clicks, switches and slides."""

    kind = ""

    def __init__(self, index: int, url: str, pid: int | None = None) -> None:
        self.index, self.url, self.pid = index, url, pid
        self.errors: list[str] = []
        self.actions: list[tuple[str, float]] = []  # (what, seconds) of each interaction
        self.train_s: float | None = None
        self.done = False
        self.t0 = 0.0

    async def open(self) -> None:
        raise NotImplementedError

    async def click_train_all(self) -> None:
        raise NotImplementedError

    async def switch(self, page: str) -> None:
        raise NotImplementedError

    async def slide(self, steps: int) -> None:
        raise NotImplementedError

    async def trained(self) -> tuple[bool, str | None]:
        """(this learner's training has ended, an error's text if it failed)."""
        raise NotImplementedError

    async def close(self) -> None:
        pass

    @property
    def interaction_s(self) -> list[float]:
        return [seconds for _, seconds in self.actions]

    async def timed(self, awaitable, what: str) -> None:
        t0 = time.monotonic()
        await awaitable
        self.actions.append((what, time.monotonic() - t0))

    async def run(self, start: asyncio.Event, everyone: Everyone) -> None:
        try:
            await start.wait()
            self.t0 = time.monotonic()
            await self.timed(self.click_train_all(), "Train all click")
            i = 0
            while not await self.ended(everyone) or not everyone.all_ended():
                if time.monotonic() - self.t0 > CLASS_TRAIN_S:
                    raise TimeoutError("the class's trainings did not end")
                link = "Labels" if i % 2 == 0 else "Home"
                await self.timed(self.switch(link), f"switch to {link}")
                await self.think(everyone)
                if link == "Labels":
                    await self.timed(self.slide(1 if i % 4 == 0 else -1), "slider move")
                    await self.think(everyone)
                i += 1
        except Exception as exc:
            self.errors.append(f"session {self.index}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
        finally:
            if not self.done:
                self.done = True
                everyone.ended += 1

    async def ended(self, everyone: Everyone) -> bool:
        """Has this learner's training ended (trained, or an error box)? Records its time once."""
        if self.done:
            return True
        ended, error = await self.trained()
        if not ended:
            return False
        if error:
            self.errors.append(f"session {self.index}: {error[:200]}")
        else:
            self.train_s = time.monotonic() - self.t0
        self.done = True
        everyone.ended += 1
        return True

    async def think(self, everyone: Everyone) -> None:
        """Read the page for THINK_S, noticing meanwhile when this learner's training ends."""
        until = time.monotonic() + THINK_S
        while time.monotonic() < until and not everyone.all_ended():
            await self.ended(everyone)
            await asyncio.sleep(min(0.25, max(0.0, until - time.monotonic())))


class ProtocolLearner(Learner):
    """A learner whose browser is elsewhere: the same messages over the websocket (``st_client``)."""

    kind = "protocol"

    async def open(self) -> None:
        self.session = await StreamlitSession(self.url, timeout=STEP_S).__aenter__()
        await self.session.open()

    async def click_train_all(self) -> None:
        await self.session.click("Train all stages")

    async def switch(self, page: str) -> None:
        await self.session.switch_page(page)

    async def slide(self, steps: int) -> None:
        await self.session.move_slider(LABEL_SLIDER, steps)

    async def trained(self) -> tuple[bool, str | None]:
        texts = self.session.seen_texts
        error = next((t for t in texts if t.startswith("Training stopped")), None)
        success = any(t.startswith("Trained ") for t in texts)
        return bool(error or success or self.session.has_text(TRAINED_BADGE)), error

    async def close(self) -> None:
        await self.session.__aexit__(None, None, None)


class Everyone:
    """How many of the class's trainings have ended (trained or failed)."""

    def __init__(self, n: int) -> None:
        self.n, self.ended = n, 0

    def all_ended(self) -> bool:
        return self.ended >= self.n


async def run_class(learners: list[Learner], pid: int | None, stacks_every: float = 0.0) -> dict:
    """Open every learner, then everyone clicks at once and uses the lab until all trainings ended.

    Returns the cores each side used meanwhile (server, browsers, the rest: mostly the training workers).
    ``stacks_every`` > 0 (diagnosis): ask the server for its threads' stacks that often (see ``dump``)."""
    await asyncio.gather(*(s.open() for s in learners))
    start = asyncio.Event()
    everyone = Everyone(len(learners))
    tasks = [asyncio.ensure_future(s.run(start, everyone)) for s in learners]
    before = cpu_snapshot(pid) if pid else None
    start.set()  # everyone clicks at once
    while stacks_every and not all(t.done() for t in tasks):
        dump(pid)
        await asyncio.sleep(stacks_every)
    await asyncio.gather(*tasks)
    cores = cores_used(before, cpu_snapshot(pid)) if pid else {}
    await asyncio.gather(*(s.close() for s in learners), return_exceptions=True)
    return cores


def dump(pid: int | None) -> None:
    """Ask a server started with LAB_STACKS_ON_SIGNAL=1 to print every thread's stack to its log.

    Diagnosis only, and seldom (every 2 s was fine): faulthandler reads the other threads' frames without
    the GIL, and at several dumps a second one landed in a garbage collection and the server died."""
    import signal

    if pid is not None:
        try:
            os.kill(pid, signal.SIGUSR1)
        except OSError:
            pass


def summarise(learners: list[Learner], log: Path, cores: dict, sampler: MemorySampler | None,
              workers_mb: float, load_before: tuple[float, ...], wall: float) -> dict:
    """The class in numbers (see the module's docstring)."""
    jobs = server_jobs(log)
    trains = [s.train_s for s in learners if s.train_s is not None]
    clicks = [x for s in learners for x in s.interaction_s]
    kinds = sorted({s.kind for s in learners})
    by_kind = {kind: [x for s in learners if s.kind == kind for x in s.interaction_s] for kind in kinds}
    return {
        "sessions": len(learners), **{f"{kind}_learners": sum(s.kind == kind for s in learners) for kind in kinds},
        "think_s": THINK_S, "finished": len(trains), "errors": [e for s in learners for e in s.errors][:20],
        "wall_s": round(wall, 1),
        "train_p50_s": pct(trains, 50), "train_p95_s": pct(trains, 95), "train_max_s": pct(trains, 100),
        "interactions": len(clicks), "interaction_p50_s": pct(clicks, 50), "interaction_p95_s": pct(clicks, 95),
        "interaction_max_s": pct(clicks, 100),
        "interaction_by_action": {what: {"n": len(xs), "p50_s": pct(xs, 50), "p95_s": pct(xs, 95)} for what, xs in
                                  _group([a for s in learners for a in s.actions]).items()},
        **{f"interaction_{kind}_{k}": v for kind, xs in by_kind.items()
           for k, v in (("n", len(xs)), ("p50_s", pct(xs, 50)), ("p95_s", pct(xs, 95)), ("max_s", pct(xs, 100)))},
        "server_jobs": len(jobs), "server_trainings": sum("followed" not in j for j in jobs),
        "server_job_p50_s": pct([j["seconds"] for j in jobs], 50),
        "server_job_p95_s": pct([j["seconds"] for j in jobs], 95),
        "server_job_max_s": pct([j["seconds"] for j in jobs], 100),
        "queued_p95_s": pct([j.get("worker ready", 0.0) for j in jobs], 95),
        "in_worker_p50_s": pct([j["in worker"] for j in jobs if j.get("in worker")], 50),
        "in_worker_p95_s": pct([j["in worker"] for j in jobs if j.get("in worker")], 95),
        "cores_while_training": cores,
        "server_rss_peak_mb": round(max(sampler.samples, default=0), 1) if sampler else None,
        "workers_rss_mb": round(workers_mb, 1),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def _group(pairs: list[tuple[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for what, x in pairs:
        out.setdefault(what, []).append(x)
    return dict(sorted(out.items()))


def measure(sessions: int = 10) -> dict:
    """`make bench`'s classroom row: a fresh server, ``sessions`` protocol learners, the summary."""
    if not (ROOT / "app.py").is_file():
        return {"skipped": "app.py is not beside the ranking package"}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        load_before = os.getloadavg()
        with serve(log, env={**SERVER_ENV, "LAB_RUNS_DIR": str(Path(tmp) / "runs")}) as url:
            pid = server_pid(int(url.rsplit(":", 1)[1]))
            sampler = MemorySampler(pid) if pid else None
            if sampler:
                sampler.start()
            t0 = time.monotonic()
            learners: list[Learner] = [ProtocolLearner(i, url) for i in range(sessions)]
            try:
                cores = asyncio.run(run_class(learners, pid))
            finally:
                if sampler:
                    sampler.stop()
            wall = time.monotonic() - t0
            workers_mb = children_rss_mb(pid) if pid else 0.0
        return summarise(learners, log, cores, sampler, workers_mb, load_before, wall)


def server_jobs(log: Path) -> list[dict]:
    """Each training job's line in the server's log (``pages.session.jobs``): total seconds and its phases
    (seconds since the click reached the server: got a worker slot, worker ready, sent, returned...)."""
    out = []
    text = log.read_text(errors="replace") if log.is_file() else ""
    for m in re.finditer(r"lab\.jobs: job \S+ (\S+): ([\d.]+) s (\{.*\})", text):
        phases = ast.literal_eval(m.group(3))
        out.append({"stages": m.group(1), "seconds": float(m.group(2)), **phases})
    return out
