"""Command line: validate, label, synth, run, bench. Every failure exits 2 with a short message."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from ranking.errors import DataError, RankingError

EXIT_USAGE = 2


def _add_label_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("label (defaults reproduce the notebook)")
    g.add_argument("--w-click", type=float, default=1.0, help="weight of click (default 1.0)")
    g.add_argument("--w-dwell", type=float, default=0.5, help="weight of dwell_time / expected_dwell (0.5)")
    g.add_argument("--w-share", type=float, default=2.0, help="weight of share (2.0)")
    g.add_argument("--w-comment", type=float, default=1.0, help="weight of comment (1.0)")
    g.add_argument("--w-hide", type=float, default=1.0, help="weight of hide, subtracted (1.0)")
    g.add_argument("--expected-dwell", default="10.0",
                   help="seconds, or mean | median | per_topic (default 10.0)")
    g.add_argument("--threshold", type=float, default=2.0, help="positive when score > threshold (2.0)")
    g.add_argument("--comment-mode", choices=("count", "indicator"), default="count",
                   help="multiply the comment count (notebook) or its 0/1 indicator")


def _label_config(args: argparse.Namespace):
    from ranking.labels import LabelConfig

    dwell: float | str = args.expected_dwell
    try:
        dwell = float(dwell)
    except ValueError:
        pass
    return LabelConfig(w_click=args.w_click, w_dwell=args.w_dwell, w_share=args.w_share,
                       w_comment=args.w_comment, w_hide=args.w_hide, expected_dwell=dwell,
                       threshold=args.threshold, comment_mode=args.comment_mode)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m ranking",
        description="Multistage Ranking Lab, headless: validate data, label interactions, "
                    "generate a world, run the three-stage pipeline, benchmark.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a data folder (Users/Content/Interaction CSVs)")
    p.add_argument("--data", required=True, type=Path, help="folder with the three CSV files")
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")

    p = sub.add_parser("label", help="add engagement_score and label columns to the interactions")
    p.add_argument("--data", required=True, type=Path, help="folder with the three CSV files")
    p.add_argument("--out", required=True, type=Path, help="output CSV file")
    _add_label_options(p)

    p = sub.add_parser("synth", help="generate a world with known preferences (three CSVs + truth)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--items", type=int, default=300)
    p.add_argument("--interactions", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-truth", action="store_true",
                   help="skip truth.csv (it stays recomputable from world.json)")

    p = sub.add_parser("run", help="train every stage, rank every user, evaluate, save the run")
    p.add_argument("--data", required=True, type=Path, help="folder with the three CSV files")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--config", type=Path, help="JSON file with (part of) the pipeline config")
    p.add_argument("--seed", type=int, help="overrides the config's seed")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("bench", help="time the pipeline at several sizes against a naive reference")
    p.add_argument("--quick", action="store_true", help="stop at the middle size (10k × 2k × 200k)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement (median reported)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    # OpenMP threads busy-wait by default, which slows XGBoost badly on a shared 2-core machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except DataError as exc:
        print(str(exc), file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_USAGE
    except (RankingError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _validate(args: argparse.Namespace) -> int:
    from ranking import data

    ds = data.load_dataset(args.data)
    summary = ds.summary()
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(f"{args.data}: valid — {summary['users']['rows']} users, {summary['content']['rows']} items, "
              f"{summary['interactions']['rows']} interactions")
        print(f"  regions: {summary['users']['region']}")
        print(f"  topics: {summary['content']['topic']}")
        print(f"  region_restriction: {summary['content']['region_restriction']}")
        print(f"  affinity columns: {summary['users']['affinity_columns']}")
        print(f"  ground truth: {'yes' if summary['has_truth'] else 'no'}")
    for w in ds.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _label(args: argparse.Namespace) -> int:
    from ranking import data, labels

    cfg = _label_config(args)
    ds = data.load_dataset(args.data)
    out = labels.labelled(ds.interactions, ds.content, cfg)
    data.write_labelled(args.out, out)
    n_pos = int(out["label"].sum())
    print(f"wrote {args.out}: {len(out)} interactions, {n_pos} positive ({n_pos / max(len(out), 1):.1%})")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from ranking import synth

    spec = synth.WorldSpec(n_users=args.users, n_items=args.items, n_interactions=args.interactions,
                           seed=args.seed)
    world = synth.generate(spec)
    synth.write_world(world, args.out, include_truth=False if args.no_truth else None)
    print(f"wrote {args.out}: {args.users} users, {args.items} items, {args.interactions} interactions")
    return 0


def _run(args: argparse.Namespace) -> int:
    from ranking import pipeline

    return pipeline.run_cli(args)


def _bench(args: argparse.Namespace) -> int:
    from ranking import bench

    return bench.main(quick=args.quick, as_json=args.json, repeats=args.repeats)


_COMMANDS = {"validate": _validate, "label": _label, "synth": _synth, "run": _run, "bench": _bench}
