"""Command line: validate, label, synth, import-mind, run, seeds, curve, rerank, abtest, loop (benchmarks:
`python -m benchmarks`).

Bad input exits 2 with a short message on stderr (an unexpected error exits 1); `--debug` adds the
traceback. `validate`, `label`, `synth` and `import-mind` never import XGBoost or TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from ranking.evaluation.summary import group_notes, run_summary
from ranking.progress import Progress

__all__ = ["build_parser", "group_notes", "main", "run_summary"]

from ranking.errors import DataError, RankingError

EXIT_USAGE = 2  # bad input, bad settings, unusable data
EXIT_BUG = 1


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
    from ranking.config import LabelConfig

    dwell: float | str = args.expected_dwell
    try:
        dwell = float(dwell)
    except ValueError:
        pass
    return LabelConfig(w_click=args.w_click, w_dwell=args.w_dwell, w_share=args.w_share,
                       w_comment=args.w_comment, w_hide=args.w_hide, expected_dwell=dwell,
                       threshold=args.threshold, comment_mode=args.comment_mode)


def _seed(text: str) -> int:
    """argparse type of --seed: a whole number every library accepts (0 … 2**31 − 1)."""
    from ranking.data.limits import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED} (2**31 - 1), got {text!r}")
    return value


def _count(text: str) -> int:
    """argparse type of a size (--users, --items, --interactions): a whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1 (memory permitting), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m ranking",
        description="Multistage Ranking Lab, headless: validate data, label interactions, import MIND logs, "
                    "generate a world, run the three-stage pipeline.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    # --debug is accepted after the command too; SUPPRESS keeps the sub-parser from resetting it to False
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", parents=[common], help="check a data folder (Users/Content/Interaction CSVs)")
    p.add_argument("--data", required=True, type=Path, help="folder with the three CSV files")
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")

    p = sub.add_parser("label", parents=[common], help="add engagement_score and label columns to the interactions")
    p.add_argument("--data", required=True, type=Path, help="folder with the three CSV files")
    p.add_argument("--out", required=True, type=Path, help="output CSV file (its folder must exist)")
    p.add_argument("--force", action="store_true", help="replace an empty folder where the file goes")
    _add_label_options(p)

    p = sub.add_parser("synth", parents=[common], help="generate a world with known preferences (three CSVs + truth)")
    p.add_argument("--out", required=True, type=Path, help="output folder (its parent must exist)")
    p.add_argument("--force", action="store_true", help="replace an existing file where the folder goes")
    p.add_argument("--users", type=_count, default=1000, help="≥ 1 (default 1000)")
    p.add_argument("--items", type=_count, default=300, help="≥ 1 (default 300)")
    p.add_argument("--interactions", type=_count, default=20000,
                   help="≥ 1 (default 20000); the world must fit in memory (LAB_MAX_MEMORY_GB)")
    p.add_argument("--seed", type=_seed, default=0, help="0 … 2**31 - 1 (default 0)")
    p.add_argument("--no-truth", action="store_true",
                   help="skip truth.csv (it stays recomputable from world.json)")
    p.add_argument("--format", choices=("lab", "mind"), default="lab",
                   help="lab: the three CSVs (default); mind: MIND's behaviors.tsv + news.tsv, one line per "
                        "logged slate, with world.json (import them with import-mind)")

    p = sub.add_parser("import-mind", parents=[common],
                       help="import MIND news logs (behaviors.tsv + news.tsv) as the three CSVs")
    p.add_argument("--behaviors", required=True, type=Path, help="MIND behaviors.tsv")
    p.add_argument("--news", required=True, type=Path, help="MIND news.tsv")
    p.add_argument("--out", required=True, type=Path, help="output folder (created; its parent must exist)")
    p.add_argument("--unknown-news", choices=("keep", "drop"), default="keep",
                   help="news shown but missing from news.tsv: keep with topic 'unknown' (default) or drop")
    p.add_argument("--history", action="store_true",
                   help="also import click histories as clicks just before each user's first impression")

    p = sub.add_parser("run", parents=[common], help="train every stage, rank every user, evaluate, save the run")
    p.add_argument("--data", required=True, type=Path, help="folder with the three CSV files")
    p.add_argument("--out", required=True, type=Path, help="output folder (its parent must exist)")
    p.add_argument("--force", action="store_true", help="replace an existing file where the folder goes")
    p.add_argument("--config", type=Path, help="JSON file with (part of) the pipeline config")
    p.add_argument("--seed", type=_seed, help="overrides the config's seed (0 … 2**31 - 1)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    _retraining(sub.add_parser("seeds", parents=[common], help="retrain every stage with several seeds on one "
                               "split: does each stage beat the one before it by more than training noise?"),
                "training seeds: the config's seed and the next ones (3)",
                "folder for seeds.json and the first seed's metrics.json")
    _retraining(sub.add_parser("curve", parents=[common], help="how much data does each stage need? oracle NDCG of "
                               "every stage and baseline against the share of the training log used (10, 25, 50, "
                               "100 %%)"), "training seeds per share (default 3)", "folder for curve.json")
    p = sub.add_parser("rerank", parents=[common], help="re-rank a saved run for other label weights, without "
                       "training (stages that predict each signal; see the config's target)")
    p.add_argument("--run", required=True, type=Path, help="a folder written by `run`")
    p.add_argument("--out", required=True, type=Path, help="output folder (its parent must exist)")
    p.add_argument("--data", type=Path, help="the run's data folder (default: the one the run recorded)")
    p.add_argument("--force", action="store_true", help="replace an existing file where the folder goes")
    for name in ("click", "dwell", "share", "comment", "hide"):
        p.add_argument(f"--w-{name}", type=float, help=f"new {name} weight (default: the run's)")
    from ranking.online.cli import add_parsers as add_online_parsers

    add_online_parsers(sub, common, _seed)
    return parser


def _retraining(p: argparse.ArgumentParser, seeds_help: str, out_help: str) -> None:
    """The options of the commands that retrain every stage several times (seeds, curve)."""
    p.add_argument("--data", required=True, type=Path, help="folder with the three CSV files")
    p.add_argument("--seeds", type=_count, default=3, help=seeds_help)
    p.add_argument("--config", type=Path, help="JSON file with (part of) the pipeline config")
    p.add_argument("--out", type=Path, help=out_help)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


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
    except Exception as exc:  # a bug rather than bad input: say so briefly, keep the traceback for --debug
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_BUG


def _load(folder: Path):
    """Load and validate a data folder; its warnings go to stderr."""
    from ranking import data

    ds = data.load_dataset(folder)
    for w in ds.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return ds


def _validate(args: argparse.Namespace) -> int:
    ds = _load(args.data)
    summary = ds.summary()
    if args.json:
        from ranking import data

        print(data.json_text(summary))
    else:
        print(f"{args.data}: valid — {summary['users']['rows']} users, {summary['content']['rows']} items, "
              f"{summary['interactions']['rows']} interactions")
        print(f"  regions: {summary['users']['region']}")
        print(f"  topics: {summary['content']['topic']}")
        print(f"  region_restriction: {summary['content']['region_restriction']}")
        print(f"  affinity columns: {summary['users']['affinity_columns']}")
        print(f"  ground truth: {'yes' if summary['has_truth'] else 'no'}")
    return 0


def _label(args: argparse.Namespace) -> int:
    from ranking import data
    from ranking.data import limits
    from ranking.prep import labels

    cfg = _label_config(args)
    limits.check_output(args.out, folder=False, force=args.force)
    ds = _load(args.data)
    out = labels.labelled(ds.interactions, ds.content, cfg)
    with _writing(args.out):
        limits.clear_output(args.out, folder=False, force=args.force)
        data.write_labelled(args.out, out)
    n_pos = int(out["label"].sum())
    print(f"wrote {args.out}: {len(out)} interactions, {n_pos} positive ({n_pos / max(len(out), 1):.1%})")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from ranking.data import limits

    include_truth = False if args.no_truth else None
    limits.check_output(args.out, folder=True, force=args.force)
    limits.check_world_size(args.users, args.items, args.interactions, include_truth=include_truth)
    from ranking.data import synth

    spec = synth.WorldSpec(n_users=args.users, n_items=args.items, n_interactions=args.interactions,
                           seed=args.seed)
    world = synth.generate(spec)
    with _writing(args.out):
        limits.clear_output(args.out, folder=True, force=args.force)
        if args.format == "mind":
            from ranking.data import schema
            from ranking.data.mind_world import write_mind_world
            from ranking.prep.impressions import impression_keys
            from ranking.prep.split import seconds

            inter = world.interactions
            event_s = seconds(inter[schema.EVENT_TS])
            key, how = impression_keys(inter, inter[schema.USER_ID].to_numpy("int64"), event_s, world.spec.to_dict())
            if key is None:
                raise ValueError(f"not a generated world with slates: {how}")
            lines, news = write_mind_world(world, args.out, key, event_s)
            print(f"wrote {args.out}: behaviors.tsv ({lines} impression lines, {args.users} users in the world), "
                  f"news.tsv ({news} news), world.json (the truth, recomputed from it; import without --history)")
            return 0
        synth.write_world(world, args.out, include_truth=include_truth)
    print(f"wrote {args.out}: {args.users} users, {args.items} items, {args.interactions} interactions")
    return 0


def _import_mind(args: argparse.Namespace) -> int:
    from ranking import data
    from ranking.data.mind import import_mind

    out = args.out
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: exists and is not a folder")
    if not out.exists() and not out.resolve().parent.is_dir():
        raise DataError(f"--out {out}: its parent folder {out.resolve().parent} does not exist")
    for flag, path in (("--behaviors", args.behaviors), ("--news", args.news)):
        if not path.is_file():
            raise DataError(f"{flag} {path}: no such file")
    users, content, inter, report = import_mind(args.behaviors, args.news, unknown_news=args.unknown_news,
                                                history=args.history)
    out.mkdir(exist_ok=True)
    data.write_tables(out, users, content, inter)
    world = args.behaviors.parent / "world.json"  # `synth --format mind`: carry the world's truth over
    if world.is_file():
        data.write_bytes(out / "world.json", world.read_bytes())
        print(f"world.json found beside {args.behaviors.name}: copied (a generated world's truth, for oracle metrics)")
    data.write_json(out / "source.json", {"format": "MIND", "behaviors": args.behaviors.name,
                                          "news": args.news.name, "recorded_signals": ["click"],
                                          **report.as_dict()})
    print("\n".join(report.lines()))
    print(f"wrote {out}: Users.csv, Content.csv, Interaction.csv, source.json")
    return 0


def _run(args: argparse.Namespace) -> int:
    import dataclasses

    from ranking.config import PipelineConfig, default_labels
    from ranking.data import limits
    from ranking.data import schema as S
    from ranking.errors import ConfigError

    raw = _read_config(args.config) if args.config else {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {args.config}: must hold a JSON object such as "
                          f"{{\"stage3\": {{\"epochs\": 5}}}}")
    if getattr(args, "seed", None) is not None:
        raw = {**raw, "seed": args.seed}
    elif "seed" in raw:
        limits.check_seed(raw["seed"], f"seed in config file {args.config}")
    config = PipelineConfig.from_dict(raw)
    if args.out is not None:
        limits.check_output(args.out, folder=True, force=getattr(args, "force", False))
    dataset = _load(args.data)
    if "labels" not in raw and dataset.recorded != S.OUTCOMES:  # e.g. MIND: clicks are all the log records
        config = dataclasses.replace(config, labels=default_labels(dataset.recorded))
        print(f"note: the log records only {', '.join(dataset.recorded)}; labelling with "
              f"{config.labels.formula_text()} (set \"labels\" in --config to override)", file=sys.stderr)
    if args.command == "seeds":
        from ranking import study  # XGBoost is slow to import: only once the settings and data are good

        return study.command(dataset, config, args.seeds, args.out, None if args.quiet else Progress())
    if args.command == "curve":
        from ranking import curve

        return curve.command(dataset, config, args.seeds, args.out, None if args.quiet else Progress())
    from ranking import pipeline  # XGBoost is slow to import: only once the settings and data are good

    progress = None if args.quiet else Progress()
    result = pipeline.run(dataset, config, progress=progress)
    with _writing(args.out):
        limits.clear_output(args.out, folder=True, force=args.force)
        if progress:
            progress("write", 0.0, "writing rankings.csv, metrics.json and the trained stages", {})
        pipeline.save_run(args.out, result, data_dir=args.data)
        if progress:
            progress("done", 1.0, "done", {})
    print("\n".join(run_summary(result, args.out)))
    return 0


def _read_config(path: Path):
    """The --config file's JSON; a problem names the file (and the line and column of a JSON error)."""
    from ranking.errors import ConfigError

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as e:
        raise ConfigError(f"config file {path}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {e.start} is 0x{e.object[e.start]:02x})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"config file {path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


@contextlib.contextmanager
def _writing(out: Path):
    """Name the user's --out (not the writer's temporary file) when writing fails."""
    try:
        yield
    except OSError as e:
        raise OSError(f"cannot write {out}: {e.strerror or e}") from e


def _rerank(args: argparse.Namespace) -> int:
    from ranking import pipeline  # XGBoost is slow to import: only once the arguments are good
    from ranking.data import limits

    limits.check_output(args.out, folder=True, force=args.force)
    overrides = {k: v for k, v in vars(args).items() if k.startswith("w_") and v is not None}
    result = pipeline.reweight_run(args.run, _load(args.data) if args.data else None, overrides)
    with _writing(args.out):
        limits.clear_output(args.out, folder=True, force=args.force)
        pipeline.save_run(args.out, result)
    print(f"label now: {result.config.labels.formula_text()} (no model was retrained)")
    print("\n".join(run_summary(result, args.out)))
    return 0


_COMMANDS = {"validate": _validate, "label": _label, "synth": _synth, "import-mind": _import_mind, "run": _run,
             "seeds": _run, "curve": _run, "rerank": _rerank,
             "abtest": lambda args: _online("abtest", args), "loop": lambda args: _online("loop", args)}


def _online(command: str, args: argparse.Namespace) -> int:
    from ranking.online import cli as online_cli

    return getattr(online_cli, command)(args, {"load": _load, "read_config": _read_config, "progress": Progress})
