"""`python -m benchmarks [--quick] [--json] [--repeats N]`: the performance table (see bench.py)."""

import argparse
import os
import sys

from benchmarks import bench

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
parser = argparse.ArgumentParser(prog="python -m benchmarks", description=bench.__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="stop at the middle size (10k × 2k × 200k)")
parser.add_argument("--json", action="store_true", help="print the results as JSON")
parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median reported)")
parser.add_argument("--mind", action="store_true",
                    help="only time the MIND import at MIND-small shape (--quick: a tenth)")
parser.add_argument("--quality", action="store_true",
                    help="the seed study against every baseline on 5 generated worlds (--quick: the 3 sample-sized)")
parser.add_argument("--world-seed", type=int, default=None,
                    help="--quality: the first world's seed (pass one never used before to test on unseen worlds)")
parser.add_argument("--classroom", action="store_true",
                    help="only the classroom rows: classes of 10 and 20 learners training at once on one server")
parser.add_argument("--online", action="store_true",
                    help="only the online rows: A/B test, interleaving and the feedback loop on the sample world")
parser.add_argument("--coverage", action="store_true",
                    help="how often each off-policy estimator's paired interval covers the true difference "
                         "(3 generated worlds × 2 training seeds; --quick: one world, one seed)")
args = parser.parse_args()
if args.online:
    from benchmarks import online_bench

    sys.exit(online_bench.main(as_json=args.json))
if args.classroom:
    sys.exit(bench.classroom_only(as_json=args.json))
if args.coverage:
    from benchmarks import coverage

    sys.exit(coverage.main(quick=args.quick, as_json=args.json))
if args.quality:
    from benchmarks import quality

    sys.exit(quality.main(quick=args.quick, as_json=args.json,
                          world_seed=quality.WORLD_SEED if args.world_seed is None else args.world_seed))
if args.mind:
    from benchmarks import mind_bench

    sys.exit(mind_bench.main(quick=args.quick, as_json=args.json, repeats=args.repeats))
sys.exit(bench.main(quick=args.quick, as_json=args.json, repeats=args.repeats))
