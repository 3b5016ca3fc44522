"""`python -m benchmarks` (`make bench`): time every stage at several world sizes, against the notebook's loops.

Where it sits: beside the pipeline, for the README's performance table. For each size it
generates a world in memory, runs label → stage 1 → 2 → 3 → post-processing → evaluation
``repeats`` times (medians reported), then times one user's full re-rank over the whole
catalog on a sample of users. On the small sizes the naive reference (``benchmarks.naive``)
runs beside it with the same trained models. Then the label slider's relabel latency at
1M interactions and the app's start time. Peak memory is the whole process's high-water
mark (``getrusage``) plus a sampled peak per phase. Progress goes to stderr; the table (or
one JSON object with ``--json``) to stdout.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np

from benchmarks import naive, procstats
from ranking import data
from ranking import pipeline as P
from ranking.config import CandidateConfig, PipelineConfig
from ranking.data import synth
from ranking.prep import labels as L
from ranking.prep.lists import RankedLists, order_rows
from ranking.stages.candidates import CandidateGenerator
from ranking.stages.postprocess import postprocess

ROOT = Path(__file__).resolve().parents[1]
NAIVE_K = 20  # the notebook's top 20
LATENCY_USERS, WARMUP_USERS = 100, 5
NAIVE_USERS = 10  # users timed on the naive per-user path (about a second each: one Keras call per row)
NAIVE_BUDGET_S = 5.0  # the naive stage-1 loop runs users until this much time has passed, then extrapolates
RELABEL_N, RELABEL_MOVES, HIST_BINS = 1_000_000, 20, 40
CLASS_SIZE = 20  # learners in the classroom row (issue 25: a class of 20 on a 2-core server; targets below)
SMALL_CLASS = 10  # and a class of 10 beside it (issue 14's class), measured the same way
PHASES = ("generate", "label", "stage1", "stage2", "stage3", "finish")  # finish = post-processing + evaluation
GB = 1024**3


@dataclass(frozen=True)
class Size:
    """One world size; ``naive`` also runs the notebook's loops on it."""

    name: str
    n_users: int
    n_items: int
    n_interactions: int
    naive: bool = False

    @property
    def label(self) -> str:
        return f"{_short(self.n_users)} × {_short(self.n_items)} × {_short(self.n_interactions)}"


SIZES = (Size("seed", 100, 100, 106, naive=True), Size("1k", 1_000, 1_000, 20_000, naive=True),
         Size("10k", 10_000, 2_000, 200_000), Size("50k", 50_000, 10_000, 1_000_000))
QUICK_STOP = "10k"


@dataclass(frozen=True, eq=False)
class _UserLists(RankedLists):
    """One user's lists carrying the user's position, so stage-2/3 scoring knows whose row it is."""

    user_pos: np.ndarray


class _Rss:
    """Samples this process's resident memory in a thread: ``peak()`` since the last ``reset()``, bytes."""

    def __init__(self, every_s: float = 0.02):
        self._every, self._peak, self._stop = every_s, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: fall back to the lifetime peak
            return max_rss()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._peak = max(self._peak, self.now())

    def __enter__(self) -> _Rss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self._peak = self.now()

    def peak(self) -> int:
        return max(self._peak, self.now())


def max_rss() -> int:
    """The whole process's peak resident memory so far, bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _short(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1000)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


def _say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _median(values) -> float:
    return float(statistics.median(values)) if len(values) else float("nan")


def _world(size: Size, seed: int = 0):
    spec = synth.WorldSpec(n_users=size.n_users, n_items=size.n_items, n_interactions=size.n_interactions,
                           seed=seed)
    return synth.generate(spec).to_dataset()


# -- the pipeline, phase by phase ---------------------------------------------------------------

def run_pipeline(size: Size, config: PipelineConfig, rss: _Rss) -> tuple[dict, dict, tuple]:
    """One timed run through the pipeline's public steps: (seconds per phase, peak bytes per phase, results)."""
    secs, peak = {}, {}

    def timed(name, fn, *args, **kwargs):
        rss.reset()
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        secs[name], peak[name] = time.perf_counter() - t, rss.peak()
        return out

    dataset = timed("generate", _world, size)
    prep = timed("label", P.prepare_data, dataset, config)
    outputs: dict = {}
    for stage in P.STAGES:  # one stage at a time, as the app trains them: fit + rank every user
        outputs = timed(stage, P.train, prep, config, [stage], trained=outputs)
    result = timed("finish", P.finish, prep, config, outputs)
    secs["end_to_end"] = sum(secs[p] for p in PHASES[1:])
    return secs, peak, (prep, outputs["stage1"], outputs["stage2"], outputs["stage3"], result.post)


def per_user_latency(prep, s1, s2, s3, post, config: PipelineConfig, n_users: int = LATENCY_USERS,
                     warmup: int = WARMUP_USERS, seed: int = 0) -> dict:
    """One user's full re-rank over the whole catalog, per stage, in ms (p50/p95 over sampled users)."""
    users = np.random.default_rng(seed).choice(prep.n_users, size=min(n_users, prep.n_users), replace=False)
    warm = min(warmup, len(users))
    parts: dict[str, list[float]] = {k: [] for k in ("stage1", "stage2", "stage3", "post", "total")}
    same = 0
    for n, u in enumerate(np.concatenate([users[:warm], users])):
        t0 = time.perf_counter()
        cands = s1.model.generate(prep, user_pos=np.array([u]))
        t1 = time.perf_counter()
        top = order_rows(cands.items, s2.model.score(prep, cands), keep=config.stage2.top_n)
        t2 = time.perf_counter()
        one = replace(s2, lists=_UserLists(top.items, top.scores, cands.user_pos))
        lists = P.rerank(prep, one, s3.model)
        t3 = time.perf_counter()
        final = postprocess(prep, lists, config.post).lists
        t4 = time.perf_counter()
        if n < warm:
            continue
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            parts[key].append(dt * 1e3)
        same += bool(np.array_equal(final.items[0], post.lists.items[u]))
    out = {f"{k}_p{q}_ms": float(np.percentile(v, q)) for k, v in parts.items() for q in (50, 95)}
    return {**out, "users": len(users), "matches_batch": same}


# -- the naive reference --------------------------------------------------------------------------

def naive_stage1(prep, budget_s: float = NAIVE_BUDGET_S, repeats: int = 3) -> dict:
    """The notebook's topic loop over all users (timed on the first users, extrapolated past the budget)
    against the vectorised topic source with the same K and no filters; checks the lists are the same."""
    ds = prep.dataset
    ids = ds.users["user_id"].to_numpy()
    got: dict = {}
    t = time.perf_counter()
    while len(got) < len(ids) and (len(got) < 3 or time.perf_counter() - t < budget_s):
        got.update(naive.topic_candidates(ds.users, ds.content, ds.affinity, NAIVE_K, [ids[len(got)]]))
    naive_s = (time.perf_counter() - t) * len(ids) / len(got)
    cfg = CandidateConfig(source="topic", k=NAIVE_K, filter_region=False, filter_blocklist=False,
                          filter_seen=False, max_age_days=0)
    gen = CandidateGenerator(cfg).fit(prep)
    runs = []
    for _ in range(max(repeats, 3)):
        t = time.perf_counter()
        cands = gen.generate(prep)
        runs.append(time.perf_counter() - t)
    content_ids = ds.content["content_id"].to_numpy()
    same = sum(content_ids[cands.items[r][cands.items[r] >= 0]].tolist() == list(got[ids[r]])
               for r in range(len(got)))
    vec_s = _median(runs)
    return {"stage1_naive_s": naive_s, "stage1_naive_users": len(got), "stage1_extrapolated": len(got) < len(ids),
            "stage1_vectorised_s": vec_s, "stage1_speedup": naive_s / vec_s, "stage1_same_lists": same}


def naive_rerank(prep, s2, s3, config: PipelineConfig, n_users: int = NAIVE_USERS, seed: int = 1) -> dict:
    """The notebook's per-user path (topic loop, per-row GBDT and Keras predict, same models), in ms."""
    users = np.random.default_rng(seed).choice(prep.n_users, size=min(n_users, prep.n_users) + 1)
    k = config.stage1.resolved_k(prep.n_items)
    times = []
    for n, u in enumerate(users):
        t = time.perf_counter()
        naive.rerank_user(prep, s2.model, s3.model, int(u), k, config.stage2.top_n, config.post)
        if n:  # the first user is the warm-up
            times.append((time.perf_counter() - t) * 1e3)
    return {"rerank_naive_p50_ms": _median(times), "rerank_naive_users": len(times)}


# -- slider and app start --------------------------------------------------------------------------

def relabel_latency(interactions, moves: int = RELABEL_MOVES, seed: int = 0) -> dict:
    """New label weights → scores, labels and the two histograms the label page draws, in ms."""
    rng = np.random.default_rng(seed)
    times = []
    for n in range(moves + 1):
        cfg = L.LabelConfig(w_click=float(rng.uniform(0, 2)), w_dwell=float(rng.uniform(0, 1)),
                            w_share=float(rng.uniform(0, 3)), threshold=float(rng.uniform(1, 3)))
        t = time.perf_counter()
        scores = L.score(interactions, cfg)
        positive = L.label(scores, cfg).astype(bool)
        span = (min(float(scores.min()), cfg.threshold), max(float(scores.max()), cfg.threshold))  # as the chart
        np.histogram(scores[positive], bins=HIST_BINS, range=span)
        np.histogram(scores[~positive], bins=HIST_BINS, range=span)
        if n:  # the first move is the warm-up
            times.append((time.perf_counter() - t) * 1e3)
    return {"interactions": len(interactions), "moves": moves, "p50_ms": float(np.percentile(times, 50)),
            "p95_ms": float(np.percentile(times, 95))}


_APPTEST = """
import json, sys, time
t = time.perf_counter()
from importlib import import_module  # run in a child process; the library itself never imports streamlit
AppTest = import_module("streamlit.testing.v1").AppTest
at = AppTest.from_file("app.py", default_timeout={timeout}).run()
print(json.dumps({{"in_process_s": time.perf_counter() - t, "errors": [str(e.value) for e in at.exception],
                  "tensorflow_imported": "tensorflow" in sys.modules}}))
"""


def _server_healthy_s(timeout_s: float) -> float:
    """Seconds from `streamlit run app.py` until /_stcore/health answers 200 (NaN on timeout)."""
    t = time.perf_counter()
    try:
        with procstats.serve(Path(os.devnull), timeout=timeout_s):
            return time.perf_counter() - t
    except RuntimeError:
        return float("nan")


def app_start(repeats: int = 3, timeout_s: float = 120.0) -> dict:
    """Server start until healthy, and the home script's first run in a fresh interpreter (AppTest)."""
    if not (ROOT / "app.py").is_file():
        return {"skipped": "app.py is not beside the ranking package"}
    healthy, script, inner, errors, tf = [], [], [], [], False
    for _ in range(repeats):
        healthy.append(_server_healthy_s(timeout_s))
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _APPTEST.format(timeout=int(timeout_s))], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout_s * 2, check=False)
        script.append(time.perf_counter() - t)
        try:
            res = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            res = {"in_process_s": float("nan"), "errors": [done.stderr[-500:]], "tensorflow_imported": None}
        inner.append(res["in_process_s"])
        errors += res["errors"]
        tf = tf or res["tensorflow_imported"]
    return {"server_healthy_s": _median(healthy), "home_script_s": _median(script),
            "home_script_in_process_s": _median(inner), "errors": sorted(set(errors)), "tensorflow_imported": tf}


_APP_TRAINED = """
import json, os, sys, time
os.environ["LAB_TRAIN_ON_START"] = "1"
from pages.session import demo, worker
t0 = time.perf_counter()
worker.warm_in_background()  # what the server does at start
job = demo.start()  # what the server's first page load does
while not job.done:
    time.sleep(0.05)
to_trained = time.perf_counter() - t0
from importlib import import_module  # the library itself never imports streamlit
AppTest = import_module("streamlit.testing.v1").AppTest
t = time.perf_counter()
at = AppTest.from_file("app.py", default_timeout={timeout}).run()
page_s = time.perf_counter() - t
text = " ".join(str(m.value) for m in (*at.markdown, *at.caption, *at.info, *at.success, *at.warning))
# the click: train all three stages again through the warm pool, as the Train button does
from ranking.config import PipelineConfig
from ranking.names import STAGES
from pages.session import jobs
from pages.session.datasets import DataChoice, resolve
from pages.session.state import LabState
dataset, key = resolve(DataChoice())
clicks = []
for seed in (43, 44, 45):
    t = time.perf_counter()
    j = jobs.start(LabState(), list(STAGES), dataset, key, PipelineConfig(seed=seed), DataChoice())
    while not j.done:
        time.sleep(0.02)
    clicks.append({{"s": time.perf_counter() - t, "server_s": j.seconds, "error": j.error}})
print(json.dumps({{"first_start_to_trained_s": to_trained, "job_s": demo.seconds_to_trained(), "error": job.error,
                  "trained_home_page_s": page_s, "page_errors": [str(e.value) for e in at.exception],
                  "page_says_trained": "not trained" not in text.lower(), "page_charts": len(at.get("plotly_chart")),
                  "tensorflow_in_server": "tensorflow" in sys.modules, "clicks": clicks}}))
"""


def app_trained(timeout_s: float = 300.0) -> dict:
    """The trained demo and "Train all stages", through the app's own worker pool and job code.

    In a fresh interpreter standing in for the server: start the workers as the server does, start the
    sample world's start-up training as the first page load does, time it to "trained", then the home
    page's first script run with that state (AppTest), then three "Train all stages" clicks
    (click → trained and saved, per seed; the server's ``job.seconds``)."""
    if not (ROOT / "app.py").is_file():
        return {"skipped": "app.py is not beside the ranking package"}
    env = {**os.environ, "LAB_SYNC_TRAINING": "0"}
    done = subprocess.run([sys.executable, "-c", _APP_TRAINED.format(timeout=int(timeout_s))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout_s * 3, check=False)
    try:
        res = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"skipped": f"the measurement failed: {done.stderr[-500:]}"}
    res["train_all_s"] = _median([c["s"] for c in res["clicks"]])
    res["train_all_server_s"] = _median([c["server_s"] for c in res["clicks"]])
    return res


def _version(pkg: str) -> str | None:
    """An imported module's ``__version__``, else the installed distribution's (``-cpu`` builds too)."""
    module = sys.modules.get(pkg)
    if getattr(module, "__version__", None):
        return str(module.__version__)
    for dist in (pkg, f"{pkg}-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def machine() -> dict:
    """CPU, memory, load and library versions: the context every number needs."""
    model = "unknown"
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        mem = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    versions = {pkg: _version(pkg) for pkg in ("numpy", "pandas", "scipy", "xgboost", "tensorflow", "keras",
                                               "streamlit")}
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_count": os.cpu_count(), "cpus_usable": usable, "cpu_model": model, "ram_gb": mem / GB,
            "load_avg": list(os.getloadavg()), "python": platform.python_version(), "versions": versions,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}


# -- the whole benchmark --------------------------------------------------------------------------

def measure_size(size: Size, config: PipelineConfig, repeats: int, rss: _Rss, latency_users: int = LATENCY_USERS,
                 naive_users: int = NAIVE_USERS, naive_budget_s: float = NAIVE_BUDGET_S) -> tuple[dict, object]:
    """Medians of ``repeats`` pipeline runs, per-user latency and (small sizes) the naive reference."""
    runs, peaks = [], []
    for r in range(repeats):
        _say(f"{size.name} ({size.label}): pipeline run {r + 1}/{repeats}")
        results = None  # the previous run's objects go before the next run allocates
        gc.collect()
        secs, peak, results = run_pipeline(size, config, rss)
        runs.append(secs)
        peaks.append(peak)
    prep, s1, s2, s3, post = results
    out = {"size": {"users": size.n_users, "items": size.n_items, "interactions": size.n_interactions,
                    "label": size.label}, "repeats": repeats,
           "seconds": {k: _median([run[k] for run in runs]) for k in runs[0]},
           "seconds_runs": {k: [run[k] for run in runs] for k in runs[0]},
           "phase_peak_rss_gb": {k: max(p[k] for p in peaks) / GB for k in peaks[0]}}
    _say(f"{size.name}: per-user re-rank latency over {min(latency_users, prep.n_users)} users")
    out["per_user"] = per_user_latency(prep, s1, s2, s3, post, config, latency_users)
    out["peak_rss_gb"] = max_rss() / GB
    out["load_avg_1min"] = os.getloadavg()[0]  # the machine is shared: contention explains outliers
    if size.naive:
        _say(f"{size.name}: naive reference")
        nv = naive_stage1(prep, naive_budget_s, repeats)
        nv.update(naive_rerank(prep, s2, s3, config, naive_users))
        nv["stage1_pipeline_speedup"] = nv["stage1_naive_s"] / out["seconds"]["stage1"]
        nv["rerank_speedup"] = nv["rerank_naive_p50_ms"] / out["per_user"]["total_p50_ms"]
        out["naive"] = nv
    return out, prep


def measure(sizes=SIZES, repeats: int = 3, config: PipelineConfig | None = None, *, relabel_n: int = RELABEL_N,
            app: bool = True, latency_users: int = LATENCY_USERS, naive_users: int = NAIVE_USERS,
            naive_budget_s: float = NAIVE_BUDGET_S) -> dict:
    """Run everything and return one JSON-able dict (see ``format_table`` for what it holds)."""
    config = config or PipelineConfig()
    repeats = max(1, int(repeats))
    t = time.perf_counter()
    import keras  # import TensorFlow once up front, so no stage-3 row carries it
    result: dict = {"machine": machine(), "repeats": repeats, "tensorflow_import_s": time.perf_counter() - t,
                    "sizes": {}}
    relabel_inter = None
    with _Rss() as rss:
        for size in sizes:
            result["sizes"][size.name], prep = measure_size(size, config, repeats, rss, latency_users,
                                                            naive_users, naive_budget_s)
            if size.n_interactions == relabel_n:
                relabel_inter = prep.dataset.interactions
            del prep
            keras.backend.clear_session()
            gc.collect()
    _say(f"relabel latency at {relabel_n:,} interactions")
    if relabel_inter is None:
        relabel_inter = _world(Size("relabel", max(relabel_n // 20, 10), max(relabel_n // 100, 10),
                                    relabel_n)).interactions
    result["relabel"] = relabel_latency(relabel_inter)
    del relabel_inter
    if app:
        _say("app start")
        result["app_start"] = app_start(repeats)
        _say("trained demo and train all (worker pool)")
        result["app_trained"] = app_trained()
        from benchmarks import classroom

        _say(f"a class of {SMALL_CLASS} trains all stages at once (server + websocket learners)")
        result["classroom_small"] = classroom.measure(SMALL_CLASS)
        _say(f"a class of {CLASS_SIZE} trains all stages at once (server + websocket learners)")
        result["classroom"] = classroom.measure(CLASS_SIZE)
    result["targets"] = targets(result)
    result["wall_s"] = time.perf_counter() - t
    return result


# -- targets and the table ----------------------------------------------------------------------

def _get(result: dict, *path):
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def targets(result: dict) -> list[dict]:
    """Each target with its measured value and pass flag (None when this run did not measure it)."""
    specs = (
        ("per-user full re-rank p95 at 10k items", ("sizes", "50k", "per_user", "total_p95_ms"), "<=", 20, "ms"),
        ("end to end (label → evaluate) at 50k × 10k × 1M", ("sizes", "50k", "seconds", "end_to_end"),
         "<=", 180, "s"),
        ("peak memory (whole process) at 50k × 10k × 1M", ("sizes", "50k", "peak_rss_gb"), "<=", 6, "GB"),
        ("relabel at 1M interactions (p50)", ("relabel", "p50_ms"), "<=", 100, "ms"),
        ("train all stages on the sample world, click → trained (median of 3)", ("app_trained", "train_all_s"),
         "<=", 3, "s"),
        (f"a class of {CLASS_SIZE} trains all at once: trainings finished", ("classroom", "finished"), ">=",
         CLASS_SIZE, ""),
        ("· the class's slowest training, click → trained", ("classroom", "train_max_s"), "<=", 30, "s"),
        ("· page interactions meanwhile, p95", ("classroom", "interaction_p95_s"), "<=", 2, "s"),
        ("stage 1 for all users vs the naive loop at 1k × 1k", ("sizes", "1k", "naive", "stage1_speedup"),
         ">=", 1000, "×"),
        ("per-user re-rank vs naive at seed size", ("sizes", "seed", "naive", "rerank_speedup"), ">=", 30, "×"),
    )
    out = []
    for name, path, op, bound, unit in specs:
        value = _get(result, *path)
        if path[0] == "relabel" and _get(result, "relabel", "interactions") != RELABEL_N:
            value = None
        ok = None if value is None or value != value else (value <= bound if op == "<=" else value >= bound)
        shown = f"{bound:g}×" if unit == "×" else f"{bound:g} {unit}".rstrip()
        out.append({"name": name, "target": f"{'≤' if op == '<=' else '≥'} {shown}", "value": value,
                    "unit": unit, "pass": ok})
    tf = _get(result, "app_start", "tensorflow_imported")
    out.append({"name": "home page does not import TensorFlow", "target": "not imported",
                "value": None if tf is None else not tf, "unit": "", "pass": None if tf is None else not tf})
    return out


def _fmt(value, unit: str) -> str:
    if value is None or value != value:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):  # a count
        return f"{value:,} {unit}".rstrip()
    if unit == "×":
        return f"{value:,.0f}×" if value >= 100 else f"{value:.1f}×"
    if unit == "s" and value >= 100:
        return f"{value:.0f} s ({value / 60:.1f} min)"
    if unit == "s" and value < 0.1:
        return _fmt(value * 1e3, "ms")
    digits = 3 if value < 1 else (2 if value < 10 else (1 if value < 100 else 0))
    return f"{value:.{digits}f} {unit}".rstrip()


ROWS = (
    ("generate world (in memory)", ("seconds", "generate"), "s"),
    ("label + split", ("seconds", "label"), "s"),
    ("stage 1, all users (fit + generate)", ("seconds", "stage1"), "s"),
    ("stage 2, all users (train + score every candidate)", ("seconds", "stage2"), "s"),
    ("stage 3, all users (train + re-rank top N)", ("seconds", "stage3"), "s"),
    ("post-process + evaluate", ("seconds", "finish"), "s"),
    ("**end to end (label → evaluate)**", ("seconds", "end_to_end"), "s"),
    ("per-user re-rank p50 / p95", ("per_user", "total_p50_ms", "total_p95_ms"), "ms"),
    ("· stage 1 candidates p50 / p95", ("per_user", "stage1_p50_ms", "stage1_p95_ms"), "ms"),
    ("· stage 2 score p50 / p95", ("per_user", "stage2_p50_ms", "stage2_p95_ms"), "ms"),
    ("· stage 3 re-rank p50 / p95", ("per_user", "stage3_p50_ms", "stage3_p95_ms"), "ms"),
    ("· post-process p50 / p95", ("per_user", "post_p50_ms", "post_p95_ms"), "ms"),
    ("per-user lists = batch lists", ("per_user", "matches_batch", "users"), "of"),
    ("peak RSS, whole process so far", ("peak_rss_gb",), "GB"),
    ("peak RSS sampled during this size's runs", ("phase_peak_rss_gb",), "max"),
    ("load average (1 min) after the runs, 2 CPUs", ("load_avg_1min",), ""),
    ("naive stage 1, all users (notebook loop)", ("naive", "stage1_naive_s"), "s"),
    ("vectorised stage 1, same topic lists", ("naive", "stage1_vectorised_s"), "s"),
    ("**stage 1 speed-up** (vs pipeline stage 1)", ("naive", "stage1_speedup", "stage1_pipeline_speedup"), "x2"),
    ("naive per-user re-rank p50", ("naive", "rerank_naive_p50_ms"), "ms"),
    ("**per-user speed-up**", ("naive", "rerank_speedup"), "×"),
)


def _cell(size: dict, path: tuple, unit: str) -> str:
    if unit == "max":
        peaks = _get(size, *path)
        return _fmt(max(peaks.values()), "GB") if peaks else "—"
    if unit == "of":
        a, b = _get(size, path[0], path[1]), _get(size, path[0], path[2])
        return "—" if a is None else f"{a}/{b}"
    if unit == "x2":
        a, b = _get(size, path[0], path[1]), _get(size, path[0], path[2])
        return "—" if a is None else f"{_fmt(a, '×')} ({_fmt(b, '×')})"
    if len(path) == 3 and unit == "ms":
        a, b = _get(size, path[0], path[1]), _get(size, path[0], path[2])
        return "—" if a is None else f"{_fmt(a, 'ms')} / {_fmt(b, 'ms')}"
    cell = _fmt(_get(size, *path), unit)
    if path == ("naive", "stage1_naive_s") and _get(size, "naive", "stage1_extrapolated"):
        cell += f" (extrapolated from {size['naive']['stage1_naive_users']} users)"
    if path == ("naive", "rerank_naive_p50_ms") and cell != "—":
        cell += f" ({size['naive']['rerank_naive_users']} users)"
    return cell


def format_table(result: dict) -> str:
    """The results as a Markdown table, then relabel, app start, machine and the targets."""
    sizes = result["sizes"]
    head = "| measurement (median of {} runs) | {} |".format(
        result["repeats"], " | ".join(s["size"]["label"] for s in sizes.values()))
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for name, path, unit in ROWS:
        lines.append(f"| {name} | " + " | ".join(_cell(s, path, unit) for s in sizes.values()) + " |")
    rl, app, m = result.get("relabel"), result.get("app_start"), result["machine"]
    lines.append("")
    if rl:
        lines.append(f"Relabel (slider → scores, labels, histograms) at {rl['interactions']:,} interactions: "
                     f"p50 {_fmt(rl['p50_ms'], 'ms')}, p95 {_fmt(rl['p95_ms'], 'ms')} over {rl['moves']} moves.")
    if app and "skipped" not in app:
        lines.append(f"App start: server healthy after {_fmt(app['server_healthy_s'], 's')}; home script run in a "
                     f"fresh interpreter {_fmt(app['home_script_s'], 's')} (of which AppTest run "
                     f"{_fmt(app['home_script_in_process_s'], 's')}); TensorFlow imported: "
                     f"{'yes' if app['tensorflow_imported'] else 'no'}"
                     + (f"; errors: {app['errors']}" if app["errors"] else "") + ".")
    tr = result.get("app_trained")
    if tr and "skipped" not in tr:
        lines.append(f"Sample world trained at start: {_fmt(tr['first_start_to_trained_s'], 's')} from the server's "
                     f"start to trained (workers warming included); then the home page's first run with the "
                     f"trained state {_fmt(tr['trained_home_page_s'], 's')} ({tr['page_charts']} charts; says "
                     f"\"not trained\": {'no' if tr['page_says_trained'] else 'yes'}). \"Train all stages\", "
                     f"click → trained and saved, median of 3 seeds: {_fmt(tr['train_all_s'], 's')} "
                     f"({', '.join(_fmt(c['s'], 's') for c in tr['clicks'])}); TensorFlow in the server "
                     f"process: {'yes' if tr['tensorflow_in_server'] else 'no'}.")
    for cl in (result.get("classroom_small"), result.get("classroom")):
        if not cl or "skipped" in cl:
            continue
        lines.append(f"Classroom ({cl['sessions']} learners over the websocket, all clicking \"Train all stages\" "
                     f"on the sample world at once, then switching pages and moving a slider with {cl['think_s']:g} s "
                     f"of reading between): {cl['finished']} of {cl['sessions']} trainings finished, click → "
                     f"trained p50 {_fmt(cl['train_p50_s'], 's')}, p95 {_fmt(cl['train_p95_s'], 's')}, max "
                     f"{_fmt(cl['train_max_s'], 's')} (in a worker p50 {_fmt(cl['in_worker_p50_s'], 's')}; "
                     f"{cl.get('server_trainings', cl.get('server_jobs', '?'))} training(s) ran for "
                     f"{cl.get('server_jobs', '?')} clicks, identical requests share one); "
                     f"{cl['interactions']} page interactions p50 {_fmt(cl['interaction_p50_s'], 's')}, p95 "
                     f"{_fmt(cl['interaction_p95_s'], 's')}; server RSS peak {_fmt(cl['server_rss_peak_mb'], 'MB')}, "
                     f"workers {_fmt(cl['workers_rss_mb'], 'MB')}; load average "
                     f"{cl['loadavg_before'][0]:.1f} → {cl['loadavg_after'][0]:.1f}"
                     + (f"; errors: {cl['errors']}" if cl["errors"] else "") + ".")
    lines.append(f"TensorFlow import (once, before timing): {_fmt(result['tensorflow_import_s'], 's')}.")
    lines.append(f"Machine: {m['cpu_count']} CPUs ({m['cpus_usable']} usable), {m['cpu_model']}, "
                 f"{m['ram_gb']:.0f} GB RAM, load average at start {m['load_avg'][0]:.1f}; Python {m['python']}, "
                 + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".")
    lines.append("Naive stage 1 = the notebook's loop (one DataFrame filter per user × item, topic match, top 20, "
                 "no filters); its speed-up is against the vectorised topic source giving the same lists, and in "
                 "brackets against the pipeline's full stage 1 (hybrid, filters, fit included). Naive per-user = "
                 "that loop for one user, then one GBDT and one Keras predict per candidate with the same models.")
    lines.append("")
    for tg in result.get("targets", []):
        status = "SKIP" if tg["pass"] is None else ("PASS" if tg["pass"] else "MISS")
        value = tg["value"]
        shown = ("yes" if value else "no") if isinstance(value, bool) else _fmt(value, tg["unit"])
        lines.append(f"{status}  {tg['name']}: {shown} (target {tg['target']})"
                     + (" — not measured in this run" if status == "SKIP" else ""))
    return "\n".join(lines)


def classroom_only(as_json: bool = False) -> int:
    """Only the classroom rows (``--classroom``): a class of 10 and one of 20, with their targets."""
    from benchmarks import classroom

    result = {"sizes": {}, "repeats": 1, "machine": machine(), "tensorflow_import_s": None}
    _say(f"a class of {SMALL_CLASS} trains all stages at once (server + websocket learners)")
    result["classroom_small"] = classroom.measure(SMALL_CLASS)
    _say(f"a class of {CLASS_SIZE} trains all stages at once (server + websocket learners)")
    result["classroom"] = classroom.measure(CLASS_SIZE)
    result["targets"] = targets(result)
    print(data.json_text(result) if as_json else format_table(result))
    return 0


def main(quick: bool = False, as_json: bool = False, repeats: int = 3) -> int:
    """CLI entry: all sizes (``quick``: up to 10k × 2k × 200k); exit 0 whether or not targets pass."""
    sizes = SIZES[:[s.name for s in SIZES].index(QUICK_STOP) + 1] if quick else SIZES
    result = measure(sizes, repeats)
    print(data.json_text(result) if as_json else format_table(result))
    return 0
