"""Progress of a long command on stderr: a bar on a terminal, never-silent lines in a log.

Where it sits: the CLI (``ranking.cli``) hands a :class:`Progress` to ``ranking.pipeline.run`` and the
seed and curve commands; the pipeline calls it with (step, fraction of the step, message, metric logs).
"""

from __future__ import annotations

import re
import sys
import time


class Progress:
    """Progress on stderr for every step (``--quiet`` turns it off).

    On a terminal: one line redrawn in place, with a bar, the step's elapsed time, its rate and an
    estimate of the time left (from the step's progress so far). Elsewhere (a log file, CI): a line per
    step, per new phase of a step (scoring after training), per quarter of a step, and at least one every
    ``HEARTBEAT_S`` seconds while a step reports, so a long part is never silent.
    """

    HEARTBEAT_S = 10.0
    WIDTH = 24

    def __init__(self, stream=None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.stage, self.shown, self.phase, self.last = "", -1.0, "", 0.0
        self.stage_t0 = self.frac_t0 = time.monotonic()
        self.frac0 = 0.0
        self.drawn = False

    def __call__(self, stage: str, fraction: float, message: str, logs: dict | None = None) -> None:
        now = time.monotonic()
        if stage != self.stage:
            self.stage, self.stage_t0, self.frac_t0, self.frac0, self.shown = stage, now, now, fraction, -1.0
        phase = re.sub(r"[\d.,]+", "#", message)
        if phase != self.phase:  # a new phase (scoring after training): its own rate and estimate
            self.frac_t0, self.frac0 = now, fraction
        if stage == "done":
            if self.tty and self.drawn:
                print(file=self.stream, flush=True)
            return
        elapsed = now - self.stage_t0
        if self.tty:
            self._draw(stage, fraction, message, elapsed, now)
        elif (phase != self.phase or fraction - self.shown >= 0.25 or now - self.last >= self.HEARTBEAT_S):
            print(f"[{fraction:4.0%}] {stage}: {message} ({elapsed:.0f} s)", file=self.stream, flush=True)
            self.shown, self.last = fraction, now
        self.phase = phase

    def _draw(self, stage: str, fraction: float, message: str, elapsed: float, now: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        full = round(fraction * self.WIDTH)
        bar = "█" * full + "·" * (self.WIDTH - full)
        spent, done = now - self.frac_t0, fraction - self.frac0
        rate = done / spent if spent > 0.5 and done > 0 else 0.0
        left = f" · ~{(1.0 - fraction) / rate:.0f} s left" if rate > 0 and fraction < 1.0 else ""
        per_min = f" · {rate * 100 * 60:.0f} %/min" if rate > 0 else ""
        line = f"{stage:<9} {bar} {fraction:4.0%} {message} · {elapsed:.0f} s{per_min}{left}"
        print("\r\033[K" + line[:200], end="", file=self.stream, flush=True)
        self.drawn = True
