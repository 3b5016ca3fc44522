"""The ``abtest`` and ``loop`` commands of ``python -m ranking`` (registered by ``ranking.cli``).

Imports stay light until a command runs: ``ranking.cli`` builds its parser from ``add_parsers`` and hands each
command its helpers (``tools``: ``load`` a data folder, ``read_config`` a JSON file, ``progress`` on stderr),
so this module never imports ``ranking.cli`` back.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

POLICIES = ("pipeline", "popularity", "random", "oracle")


def _arm(kind: str):
    def parse(text: str):
        if kind == "policy" and text not in POLICIES:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(POLICIES)}, got {text!r}")
        return kind, Path(text) if kind == "run" else text
    return parse


def add_parsers(sub, common: argparse.ArgumentParser, seed_type) -> None:
    """Add ``abtest`` and ``loop`` to the sub-command parsers."""
    p = sub.add_parser("abtest", parents=[common], help="online A/B test and team-draft interleaving of two runs or "
                       "policies, served to a generated world's users")
    p.add_argument("--data", required=True, type=Path, help="a generated world's folder (with world.json)")
    p.add_argument("--run", dest="arms", action="append", type=_arm("run"), default=[],
                   help="a saved run folder (from `run` or `rerank`) as the next arm; give two arms in all")
    p.add_argument("--policy", dest="arms", action="append", type=_arm("policy"),
                   help=f"a policy as the next arm: {', '.join(POLICIES)} (pipeline: trained now on --data)")
    p.add_argument("--days", type=int, default=7, help="simulated days (default 7)")
    p.add_argument("--seed", type=seed_type, default=0, help="users' arms, visits and outcomes (default 0)")
    p.add_argument("--repeats", type=int, default=10,
                   help="repeated simulations to estimate the impressions each method needs (0: skip; default 10)")
    p.add_argument("--by", default="click", choices=("click", "dwell_time", "share", "comment", "hide", "value"),
                   help="what decides the impressions-needed tests (default click; value: the compound score)")
    p.add_argument("--config", type=Path, help="pipeline config JSON for --policy pipeline")

    p = sub.add_parser("loop", parents=[common], help="the feedback loop: deploy, log the feed, retrain on it, "
                       "repeat; coverage, exposure Gini, popularity, feed similarity, oracle NDCG per round")
    p.add_argument("--data", required=True, type=Path, help="a generated world's folder (with world.json)")
    p.add_argument("--policy", action="append", choices=POLICIES, help="pipeline (default; retrained every round), "
                   "popularity, random or oracle; repeat for several")
    p.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--days", type=int, default=3, help="days per round (default 3)")
    p.add_argument("--seed", type=seed_type, default=0, help="visits and outcomes (default 0; the training seed is the "
                   "config's)")
    p.add_argument("--config", type=Path, help="pipeline config JSON")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _config(args, read_config):
    from ranking.config import PipelineConfig

    raw = read_config(args.config) if args.config else {}
    return PipelineConfig.from_dict(raw)  # --seed is the simulation's; training keeps the config's seed


def _policy(kind: str, value, dataset, config):
    from ranking.online import ListPolicy, OraclePolicy, PopularityPolicy, RandomPolicy

    if kind == "run":
        from ranking import pipeline

        return ListPolicy.from_result(pipeline.load_run(value, dataset), name=value.name)
    if value == "pipeline":
        from ranking import pipeline

        return ListPolicy.from_result(pipeline.run(dataset, config))
    return {"popularity": PopularityPolicy(), "random": RandomPolicy(seed=config.seed),
            "oracle": OraclePolicy(labels=config.labels)}[value]


def _positive(name: str, value: int) -> None:
    from ranking.errors import ConfigError

    if value < 1:
        raise ConfigError(f"--{name} must be a whole number ≥ 1, got {value}")


def abtest(args, tools: dict) -> int:
    from ranking.errors import ConfigError
    from ranking.online import ab_test, impressions_needed, interleave_test
    from ranking.online.live import LiveWorld
    from ranking.online.report import ab_lines, needed_lines

    if len(args.arms) != 2:
        raise ConfigError(f"give exactly two arms (--run DIR or --policy NAME, in A, B order), got {len(args.arms)}")
    _positive("days", args.days)
    if args.repeats < 0:
        raise ConfigError(f"--repeats must be ≥ 0, got {args.repeats}")
    config = _config(args, tools["read_config"])
    dataset = tools["load"](args.data)
    LiveWorld(dataset)  # no world behind the data: say so before any training
    a, b = (_policy(kind, value, dataset, config) for kind, value in args.arms)
    if a.name == b.name:
        b = dataclasses.replace(b, name=f"{b.name} (B)")
    t = time.perf_counter()
    res = ab_test(dataset, a, b, args.days, args.seed, config.labels)
    seconds = time.perf_counter() - t
    print("\n".join(ab_lines(res)))
    print(f"({seconds:.2f} s for the {args.days}-day A/B test)")
    inter = interleave_test(dataset, a, b, args.days, args.seed)
    print(f"\nteam-draft interleaving, same users and days ({inter.n_impressions:,} impressions): {inter.verdict()}")
    if args.repeats:
        print("")
        print("\n".join(needed_lines(impressions_needed(dataset, a, b, args.days, args.repeats, args.seed,
                                                        config.labels, metric=args.by), args.by)))
    return 0


def loop(args, tools: dict) -> int:
    from ranking.online.live import LiveWorld
    from ranking.online.loop import feedback_loop
    from ranking.online.report import loop_lines

    _positive("rounds", args.rounds)
    _positive("days", args.days)
    config = _config(args, tools["read_config"])
    dataset = tools["load"](args.data)
    LiveWorld(dataset)
    for name in args.policy or ["pipeline"]:
        policy = name if name == "pipeline" else _policy("policy", name, dataset, config)
        t, c = time.perf_counter(), time.process_time()
        res = feedback_loop(dataset, policy, args.rounds, args.days, args.seed, config,
                            progress=None if args.quiet else tools["progress"]())
        print("\n".join(loop_lines(res)))
        print(f"({time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU)\n", flush=True)
    sys.stdout.flush()
    return 0
