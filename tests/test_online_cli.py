"""``python -m ranking abtest`` and ``loop``: the tables they print and the messages of bad input."""

from __future__ import annotations

import pytest

from ranking import cli
from ranking.data import synth


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("online") / "world"
    synth.write_world(synth.generate(synth.WorldSpec(n_users=300, n_items=80, n_interactions=6000, seed=3)), out)
    return out


def test_abtest_of_two_policies_prints_the_ab_table_interleaving_and_impressions_needed(world_dir, capsys):
    code = cli.main(["abtest", "--data", str(world_dir), "--policy", "random", "--policy", "oracle",
                     "--days", "3", "--repeats", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "A = random, B = oracle; 3 days" in out
    for line in ("per impression:", "per user:", "compound value", "oracle NDCG@10 at deployment",
                 "team-draft interleaving", "impressions needed"):
        assert line in out
    assert "oracle better" in out


def test_abtest_needs_two_arms_and_a_world(world_dir, seed_dir, capsys):
    assert cli.main(["abtest", "--data", str(world_dir), "--policy", "random"]) == 2
    assert "exactly two arms" in capsys.readouterr().err
    assert cli.main(["abtest", "--data", str(seed_dir), "--policy", "random", "--policy", "oracle"]) == 2
    assert "no generated world" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["abtest", "--data", str(world_dir), "--policy", "best", "--policy", "oracle"])


def test_loop_prints_one_column_per_round(world_dir, capsys):
    code = cli.main(["loop", "--data", str(world_dir), "--policy", "popularity", "--rounds", "2", "--days", "1",
                     "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "feedback loop: popularity, 2 rounds × 1 days" in out
    header = next(line for line in out.splitlines() if line.startswith("measure"))
    assert header.split() == ["measure", "round", "0", "round", "1", "round", "2"]
    assert "exposure Gini" in out
    assert "feed similarity (Jaccard)" in out
    assert cli.main(["loop", "--data", str(world_dir), "--rounds", "0"]) == 2
