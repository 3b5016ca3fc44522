"""`python -m benchmarks --mind`: time `import_mind` on a generated MIND-shaped file pair.

MIND-small's training split has 50,000 users, 51,282 news, 156,965 impression lines and
5,843,444 shown items (about 37 per line, about 4% clicked) and histories of about 33 clicks.
`generate_pair` writes files of that shape (``quick``: a tenth) into a temporary folder; the
import then runs ``repeats`` times with and without histories. Memory is this process's
resident set sampled every 20 ms during the import, minus what it held before, and also
per shown item, the figure the README's MIND-large estimate scales from.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.data.mind import import_mind

CATEGORIES = ("news", "lifestyle", "sports", "finance", "foodanddrink", "entertainment", "travel", "health",
              "autos", "tv", "music", "movies", "video", "weather", "kids", "middleeast", "northamerica")
MB = 1024**2


@dataclass(frozen=True)
class MindShape:
    """A MIND-shaped file pair's size."""

    name: str
    users: int
    news: int
    lines: int
    shown_per_line: float = 37.2
    history_per_user: float = 33.0
    click_rate: float = 0.04


SMALL = MindShape("MIND-small", 50_000, 51_282, 156_965)
QUICK = MindShape("MIND-small / 10", 5_000, 5_128, 15_697)


def generate_pair(folder: Path, shape: MindShape, seed: int = 0) -> tuple[Path, Path]:
    """behaviors.tsv and news.tsv of this shape in `folder` (random but seeded; every id known)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"N{n}" for n in np.sort(rng.choice(shape.news * 3, shape.news, replace=False)) + 1], object)
    cats = rng.integers(len(CATEGORIES), size=shape.news)
    news = "".join(f"{n}\t{CATEGORIES[c]}\t{CATEGORIES[c]}sub{c % 3}\tTitle of {n}\tAbstract of {n}\t"
                   f"https://assets.msn.com/{n}.html\t[]\t[]\n" for n, c in zip(names, cats, strict=True))
    popularity = rng.pareto(1.2, shape.news) + 1
    popularity /= popularity.sum()
    history = []
    for _u in range(shape.users):
        n = 0 if rng.random() < 0.03 else 1 + rng.poisson(shape.history_per_user - 1)
        history.append(" ".join(names[rng.choice(shape.news, n, p=popularity)]))
    users = np.concatenate([rng.permutation(shape.users), rng.integers(shape.users, size=shape.lines - shape.users)])
    shown = 1 + rng.poisson(shape.shown_per_line - 1, shape.lines)
    tokens = names[rng.choice(shape.news, int(shown.sum()), p=popularity)] + \
        np.where(rng.random(int(shown.sum())) < shape.click_rate, "-1", "-0").astype(object)
    ends = np.cumsum(shown)
    start = pd.Timestamp("2019-11-09")
    stamps = (start + pd.to_timedelta(np.sort(rng.integers(6 * 86400, size=shape.lines)), unit="s"))
    times = [f"{t.month}/{t.day}/{t.year} {(t.hour % 12) or 12}:{t:%M:%S} {'AM' if t.hour < 12 else 'PM'}"
             for t in stamps]
    behaviors = "".join(f"{i + 1}\tU{u + 1}\t{times[i]}\t{history[u]}\t{' '.join(tokens[e - s:e])}\n"
                        for i, (u, s, e) in enumerate(zip(users, shown, ends, strict=True)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "behaviors.tsv").write_text(behaviors, encoding="utf-8")
    (folder / "news.tsv").write_text(news, encoding="utf-8")
    return folder / "behaviors.tsv", folder / "news.tsv"


def measure(shape: MindShape = SMALL, repeats: int = 1, seed: int = 0) -> dict:
    """Seconds and memory of `import_mind` on a generated pair, with and without histories."""
    from benchmarks.bench import _Rss, _say, machine, max_rss

    out: dict = {"shape": shape.__dict__, "machine": machine(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp, _Rss() as rss:
        _say(f"MIND: writing a {shape.name} file pair")
        t = time.perf_counter()
        behaviors, news = generate_pair(Path(tmp), shape, seed)
        out["generate_s"] = time.perf_counter() - t
        out["file_mb"] = {"behaviors": behaviors.stat().st_size / MB, "news": news.stat().st_size / MB}
        for history in (False, True):
            secs, cpu, peaks = [], [], []
            for r in range(repeats):
                _say(f"MIND: import_mind history={history} run {r + 1}/{repeats}")
                gc.collect()
                rss.reset()
                before = rss.now()
                t, c = time.perf_counter(), time.process_time()
                users, content, inter, report = import_mind(behaviors, news, unknown_news="keep", history=history)
                secs.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                peaks.append(rss.peak() - before)
                frames = sum(int(f.memory_usage(deep=True).sum()) for f in (users, content, inter))
                del users, content, inter
            out["runs"]["history" if history else "impressions"] = {
                "seconds": float(np.median(secs)), "seconds_runs": secs, "cpu_seconds": float(np.median(cpu)),
                "peak_extra_mb": max(peaks) / MB,
                "frames_mb": frames / MB, "shown": report.shown, "interactions": report.interactions,
                "bytes_per_shown": max(peaks) / report.shown, "report": report.lines()[:4]}
    out["peak_rss_mb"] = max_rss() / MB
    return out


def format_table(result: dict) -> str:
    s = result["shape"]
    lines = [f"MIND import at {s['name']} shape: {s['users']:,} users, {s['news']:,} news, {s['lines']:,} lines; "
             f"behaviors.tsv {result['file_mb']['behaviors']:.0f} MB, news.tsv {result['file_mb']['news']:.1f} MB "
             f"(generated in {result['generate_s']:.0f} s)", "",
             "| import_mind | wall s | CPU s | peak extra RSS | frames | bytes per shown item | interactions |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in result["runs"].items():
        lines.append(f"| {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                     f"{r['peak_extra_mb']:.0f} MB | {r['frames_mb']:.0f} MB | "
                     f"{r['bytes_per_shown']:.0f} | {r['interactions']:,} |")
    m = result["machine"]
    lines += ["", f"Whole process peak RSS {result['peak_rss_mb']:.0f} MB (generation included). Machine: "
              f"{m['cpus_usable']} usable CPUs, load average {m['load_avg'][0]:.1f}."]
    return "\n".join(lines)


def main(quick: bool = False, as_json: bool = False, repeats: int = 1) -> int:
    result = measure(QUICK if quick else SMALL, repeats)
    print(json.dumps(result) if as_json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(quick="--quick" in sys.argv, as_json="--json" in sys.argv))
