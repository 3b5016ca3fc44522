"""Small data (the notebook's seed-like CSVs): train on everything, no evaluation, and the upload template."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_pages import ROOT, assert_clean, badges, chart

from pages.session.state import LabState
from pages.ui import smalldata
from ranking import data
from ranking.config import SplitConfig
from ranking.errors import ConfigError
from ranking.prep.labels import LabelConfig
from ranking.prep.split import IS_TEST, prepare


@pytest.fixture(autouse=True)
def _sync_training(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def test_the_upload_template_is_a_valid_upload_of_two_rows_per_table():
    with zipfile.ZipFile(BytesIO(smalldata.template_zip())) as z:
        files = {name: z.read(name) for name in z.namelist()}
    assert sorted(files) == ["Content.csv", "Interaction.csv", "Users.csv"]
    ds = data.load_uploaded(files, name="template")
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 2, 2)


def test_split_none_holds_nothing_out(seed_dir):
    ds = data.load_dataset(seed_dir)
    prep = prepare(ds, LabelConfig(), SplitConfig(method="none"), seed=0)
    assert not prep.interactions[IS_TEST].any()
    active = pd.unique(ds.interactions["user_id"])
    assert (prep.n_eval_users, prep.n_train_only_users) == (0, len(active))
    with pytest.raises(ConfigError, match="'none'"):
        SplitConfig(method="holdout")


def _upload_app(seed_dir, page: str = "app.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=240)
    at.query_params["data"] = "upload"
    at.session_state["_lab"] = LabState(upload=data.load_dataset(seed_dir, name="your upload"))
    return at


def test_seed_like_upload_says_what_is_possible_and_trains_stages_1_to_3_without_evaluation(seed_dir):
    at = _upload_app(seed_dir)
    at.run()
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "What this data allows" in text
    counts = data.load_dataset(seed_dir).interactions["user_id"].value_counts()
    assert f"{int((counts >= 3).sum())} of {len(counts)} users have 3 or more" in text  # 0 of 100, by hand
    assert at.button(key="train_all").disabled
    at.button(key="split_none").click().run()
    assert at.session_state["split_method"] == "none"
    assert not at.button(key="train_all").disabled
    at.button(key="train_all").click().run()
    assert_clean(at)
    assert all("trained" in b and "not" not in b for b in badges(at)), badges(at)
    assert any("Evaluation is unavailable" in i.value for i in at.info)

    at.switch_page("pages/5_Rank_shifts.py").run()
    assert_clean(at)
    assert len(chart(at, "How the feed changes stage by stage")["data"]) > 1  # per-user rank shifts
    at.switch_page("pages/6_Evaluation.py").run()
    assert_clean(at)
    assert any("Evaluation is unavailable" in i.value for i in at.info)
