"""Every URL parameter survives hostile values: one parser (``pages.ui.params``), one sentence per bad value."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from pages.ui import params as P
from pages.ui import settings as W
from pages.ui.tour import STEPS

ROOT = Path(__file__).resolve().parents[1]
KEYS = sorted(P.PARAMS)

hostile = st.one_of(
    st.text(max_size=60),
    st.integers(min_value=-(10**60), max_value=10**60).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e999", "-1e999", "1" * 5000, "", " ", "0x10", "1_000", "١٢",
                     "True", "None", "../../etc/passwd", "=cmd|' /C calc'!A0", "9" * 41]),
)


def _valid(param: P.Param, value) -> bool:
    if param.kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and param.lo <= value <= param.hi
    if param.kind == "float":
        return isinstance(value, float) and math.isfinite(value) and param.lo <= value <= param.hi
    if param.kind == "choice":
        return value in param.options
    if param.kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, str) and bool(param.pattern.fullmatch(value))


def test_every_parameter_a_page_reads_is_declared():
    assert set(W.BY_KEY) <= set(P.PARAMS)
    assert {"data", "g_users", "g_items", "g_inter", "g_seed", "user", "tour", "presenter", "run", "pin",
            "job"} <= set(P.PARAMS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), raw=hostile)
def test_any_value_gives_a_usable_value_or_the_default_with_one_sentence(key, raw):
    param = P.PARAMS[key]
    value, problem = P.parse(key, raw)
    if problem is None:
        assert _valid(param, value)
    else:
        assert value == param.default
        assert problem.startswith(f"The link's {param.label} '")
        assert problem.endswith(".")
        assert problem.count("; ") == 1  # one sentence: what was wrong; what the page does instead
        assert len(problem) < 300  # a 5,000-digit value is cut short


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_valid_values_round_trip_through_their_url_text(data):
    """What ``common.url_params`` writes (``str(value)``) is read back as the same value."""
    param = P.PARAMS[data.draw(st.sampled_from(KEYS))]
    if param.kind == "int":
        value = data.draw(st.integers(int(param.lo), int(param.hi)))
    elif param.kind == "float":
        value = data.draw(st.floats(param.lo, param.hi, allow_nan=False))
    elif param.kind == "choice":
        value = data.draw(st.sampled_from(param.options))
    elif param.kind == "bool":
        value = data.draw(st.booleans())
    else:
        value = data.draw(st.from_regex(param.pattern, fullmatch=True))
    assert P.parse(param.key, str(value)) == (value, None)


@pytest.mark.parametrize("key", [s.key for s in W.SETTINGS])
def test_every_setting_default_parses_to_itself(key):
    assert P.parse(key, str(W.BY_KEY[key].default)) == (W.BY_KEY[key].default, None)


@pytest.mark.parametrize(("key", "raw", "sentence"), [
    ("user", "inf", "The link's user 'inf' is not a user id; showing the first user instead."),
    ("seed", "inf", "The link's random seed 'inf' is not a whole number from 0 to 10,000; using 42 instead."),
    ("g_users", "1e999", "The link's number of users '1e999' is not a whole number from 10 to 20,000; "
                         "using 1000 instead."),
    ("s2_depth", "6.5", "The link's max depth '6.5' is not a whole number from 1 to 10; using 3 instead."),
    ("f_seen", "maybe", "The link's already-seen filter 'maybe' is not on or off (1 or 0); using on instead."),
    ("tour", "99", f"The link's lesson step '99' is not a whole number from 1 to {len(STEPS)}; the lesson did not "
                   "start."),
    ("run", "../x", "The link's trained run '../x' is not valid (a run id is 22 to 64 letters, digits, '-' or "
                    "'_'); it was ignored."),
])
def test_sentences_name_the_parameter_the_value_and_the_fallback(key, raw, sentence):
    assert P.parse(key, raw)[1] == sentence


def test_a_dataset_named_by_its_radio_label_is_understood():
    assert P.parse("data", "Generate a world") == ("world", None)


def test_a_query_keeps_good_values_drops_bad_ones_and_leaves_unknown_keys_alone():
    parsed = P.parse_all({"seed": "7", "s2_depth": "inf", "user": "12", "embed": "true", "tour": "x", "run": ""})
    assert parsed.values == {"seed": 7, "user": 12}
    assert parsed.bad == ("s2_depth", "tour", "run")
    assert len(parsed.problems) == 2  # an empty value is no value: dropped without a sentence


FIVE_THOUSAND = "1" * 5000


@pytest.fixture
def _sync(monkeypatch):
    monkeypatch.setenv("LAB_SYNC_TRAINING", "1")


def _open(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=240)
    at.query_params.update(query)
    return at.run()


@pytest.mark.usefixtures("_sync")
@pytest.mark.parametrize(("query", "said"), [
    ({"user": "inf"}, "The link's user 'inf' is not a user id"),
    ({"user": "1e999"}, "The link's user '1e999' is not a user id"),
    ({"user": FIVE_THOUSAND}, "The link's user '111111111111…' (5,000 characters) is not a user id"),
    ({"seed": "inf"}, "The link's random seed 'inf' is not a whole number"),
    ({"data": "world", "g_users": "inf", "g_items": "12", "g_inter": "400"},
     "The link's number of users 'inf' is not a whole number from 10 to 20,000; using 1000 instead."),
    ({"user": "999999"}, "The link's user '999999' is not a user id of this dataset; showing user 1 instead."),
])
@pytest.mark.parametrize("page", ["pages/5_Rank_shifts.py", "pages/1_Labels.py"])
def test_hostile_links_open_the_page_with_a_sentence_and_leave_the_url(page, query, said):
    at = _open(page, **query)
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(said in w for w in warnings), warnings
    bad = "g_users" if "g_users" in query else next(iter(query))
    assert at.query_params.get(bad) in (None, [], "1000"), at.query_params  # dropped, or the default written back
