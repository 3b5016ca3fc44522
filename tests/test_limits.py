"""Limits checked before any work: world sizes against memory, seeds, upload sizes, output places (issue 14)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from ranking import data
from ranking.data import limits as L
from ranking.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]

# (users, items, interactions, include_truth) → peak RSS in bytes of `python -m ranking synth` (the module's table)
MEASURED = [((30, 10, 90, None), 153_796e3 * 1.024), ((1000, 300, 200_000, False), 325_720e3 * 1.024),
            ((1000, 300, 1_000_000, False), 993_504e3 * 1.024), ((20000, 500, 1_000_000, False), 1_001_840e3 * 1.024),
            ((100, 10, 1_000_000, False), 990_636e3 * 1.024), ((1000, 300, 3_000_000, False), 2_580_188e3 * 1.024),
            ((2000, 1000, 20_000, None), 781_356e3 * 1.024), ((100000, 100000, 20_000, None), 2_658_768e3 * 1.024)]


@pytest.fixture
def limit_6gb(monkeypatch):
    monkeypatch.setenv(L.ENV_MEMORY, "6")


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize(("args", "peak"), MEASURED)
def test_the_estimate_covers_every_measurement_without_overstating_much(args, peak):
    users, items, n, truth = args
    estimate = L.estimate_world_bytes(users, items, n, include_truth=truth)
    assert peak <= estimate <= 1.35 * peak


def test_the_estimate_grows_with_every_size_and_with_the_truth_table():
    base = L.estimate_world_bytes(1000, 300, 20_000)
    assert L.estimate_world_bytes(2000, 300, 20_000) > base
    assert L.estimate_world_bytes(1000, 600, 20_000) > base
    assert L.estimate_world_bytes(1000, 300, 40_000) > base
    assert L.estimate_world_bytes(1000, 300, 20_000, include_truth=False) < base  # 300k truth rows by default
    assert L.estimate_world_bytes(3000, 1000, 20_000) < L.estimate_world_bytes(3000, 1000, 20_000, include_truth=True)


def test_memory_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv(L.ENV_MEMORY, "2.5")
    assert L.memory_limit_bytes() == 2_500_000_000
    monkeypatch.delenv(L.ENV_MEMORY)
    assert L.memory_limit_bytes() == L.machine_memory_bytes() // 2
    assert L.machine_memory_bytes() > 0
    for bad in ("lots", "0", "-1", "nan", "inf"):
        monkeypatch.setenv(L.ENV_MEMORY, bad)
        with pytest.raises(ConfigError, match=f"LAB_MAX_MEMORY_GB must be a number of GB above 0.*'{bad}'"):
            L.memory_limit_bytes()


def test_a_world_too_big_names_the_parameter_the_need_the_limit_and_the_fix(limit_6gb):
    with pytest.raises(ConfigError) as exc:
        L.check_world_size(1000, 10, 100_000_000)
    msg = str(exc.value)
    need = L.estimate_world_bytes(1000, 10, 100_000_000)
    assert msg.startswith(f"--interactions 100,000,000 would need about {need / 1e9:.1f} GB of memory; "
                          "the limit is 6.0 GB (LAB_MAX_MEMORY_GB): use --interactions ")
    suggested = int(msg.split("use --interactions ")[1].split(" or fewer")[0].replace(",", ""))
    assert L.check_world_size(1000, 10, suggested) <= 6e9  # the advice fits
    assert L.estimate_world_bytes(1000, 10, 2 * suggested) > 6e9  # and is not needlessly small


def test_a_truth_table_too_big_suggests_no_truth(monkeypatch):
    monkeypatch.setenv(L.ENV_MEMORY, "0.5")
    with pytest.raises(ConfigError, match=r"--users 2,000 × --items 1,000 with the truth table \(2,000,000 rows\)"
                                          r".*add --no-truth"):
        L.check_world_size(2000, 1000, 10)
    assert L.check_world_size(2000, 1000, 10, include_truth=False) < 0.5e9


def test_the_default_limit_says_where_it_comes_from(monkeypatch):
    monkeypatch.delenv(L.ENV_MEMORY, raising=False)
    with pytest.raises(ConfigError, match=r"the limit is [\d.]+ GB \(half of this machine's [\d.]+ GB; "
                                          r"LAB_MAX_MEMORY_GB sets it\)"):
        L.check_world_size(1000, 10, 10**12)


@pytest.mark.parametrize(("sizes", "name"), [((0, 10, 10), "--users"), ((10, -1, 10), "--items"),
                                             ((10, 10, 0), "--interactions"), ((10, 10, 2.5), "--interactions")])
def test_empty_or_fractional_sizes_are_refused(sizes, name):
    with pytest.raises(ConfigError, match=f"{name} must be a whole number ≥ 1"):
        L.check_world_size(*sizes)


def test_names_can_be_those_of_another_front_end(limit_6gb):
    with pytest.raises(ConfigError, match=r"^Interactions 10,000,000,000 would need"):
        L.check_world_size(10, 10, 10**10, names={"n_interactions": "Interactions"})


# ---------------------------------------------------------------- seeds and uploads


@pytest.mark.parametrize("bad", [-1, 2**31, 99999999999999999999, "seven", "12", 1.5, True, None])
def test_seeds_outside_the_range_every_library_takes_are_refused(bad):
    with pytest.raises(ConfigError, match=r"seed in x must be a whole number from 0 to 2,147,483,647 \(2\*\*31 - 1\)"):
        L.check_seed(bad, "seed in x")


def test_seeds_at_the_ends_of_the_range_pass():
    assert L.check_seed(0) == 0
    assert L.check_seed(L.MAX_SEED) == 2**31 - 1


def test_upload_size_limit_matches_the_streamlit_setting():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == L.UPLOAD_LIMIT_MB


def test_an_upload_over_the_limit_is_refused_by_name():
    L.check_upload_size("Interaction.csv", 50_000_000)
    with pytest.raises(ConfigError, match=r"^Interaction\.csv is 300\.0 MB; the limit is 50 MB per uploaded file "
                                          r"\(server\.maxUploadSize in \.streamlit/config\.toml\)"):
        L.check_upload_size("Interaction.csv", 300_000_000)


def test_an_upload_without_interactions_says_what_arrived_and_the_size_limit():
    users = b"user_id,device_type,region,topic_affinity_sports,avg_session_length,blocklist\n1,mobile,EU,0.5,3.0,\n"
    content = (b"content_id,publisher,topic,quality_score,region_restriction,publish_timestamp\n"
               b"101,Daily,sports,0.8,ALL,2025-04-01T08:00:00Z\n")
    with pytest.raises(DataError) as exc:
        data.load_uploaded({"Users.csv": users, "Content.csv": content})
    (problem,) = exc.value.problems
    assert problem.startswith("missing the interactions table: no file named interaction.csv")
    assert "received 'Content.csv', 'Users.csv'" in problem
    assert "Files over 50 MB are refused by the upload widget before the lab sees them" in problem
    assert "maxUploadSize" in problem


# ---------------------------------------------------------------- output places


def test_output_checks_pass_and_leave_nothing_behind(tmp_path):
    (tmp_path / "old").mkdir()
    assert L.check_output(tmp_path / "new", folder=True) == tmp_path / "new"
    L.check_output(tmp_path / "old", folder=True)
    L.check_output(tmp_path / "x.csv", folder=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    assert not any((tmp_path / "old").iterdir())


@pytest.mark.parametrize(("make", "folder", "fragment"), [
    ("file", True, "is an existing file, not a folder; choose another --out, or add --force"),
    ("full dir", False, "is a folder; give a file name, such as"),
    ("missing parent", True, "does not exist; create it first"),
    ("missing parent", False, "does not exist; create it first"),
    ("file parent", True, "is not a folder"),
])
def test_output_places_that_cannot_work_are_refused(tmp_path, make, folder, fragment):
    target = tmp_path / "out"
    if make == "file":
        target.write_text("keep me")
    elif make == "full dir":
        target.mkdir()
        (target / "a.txt").write_text("keep me")
    elif make == "missing parent":
        target = tmp_path / "nowhere" / "out"
    else:
        (tmp_path / "f").write_text("keep me")
        target = tmp_path / "f" / "out"
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match=fragment) as exc:
        L.check_output(target, folder=folder, force=make == "full dir")  # force never removes a folder with files
    assert str(exc.value).startswith(f"--out {target}: ")
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_force_replaces_a_file_or_an_empty_folder_only_when_writing(tmp_path):
    (tmp_path / "w").write_text("old")
    (tmp_path / "x.csv").mkdir()
    L.check_output(tmp_path / "w", folder=True, force=True)
    L.check_output(tmp_path / "x.csv", folder=False, force=True)
    assert (tmp_path / "w").is_file()  # nothing removed by the check
    assert (tmp_path / "x.csv").is_dir()
    L.clear_output(tmp_path / "w", folder=True, force=True)
    L.clear_output(tmp_path / "x.csv", folder=False, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_refused(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(L.tempfile, "mkstemp", refuse)
    with pytest.raises(ConfigError, match=f"cannot write in {tmp_path} \\(Permission denied\\)"):
        L.check_output(tmp_path / "out", folder=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="cannot write in"):
            L.check_output(ro / "out", folder=True)
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)
