"""ranking.evaluation.explain: movers, Sankey flows, the recall curve and the rank-Δ sign, checked by hand.

Hand-made lists where the answer is obvious, and the shared ``trained_small`` run checked against
plain-Python reimplementations written from the docstrings (sets, loops and sorts; no library helper).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ranking.evaluation import explain as X
from ranking.prep.lists import PAD, RankedLists


def _lists(rows: list[list[int]], width: int = 4, n_users: int | None = None) -> RankedLists:
    n_users = len(rows) if n_users is None else n_users
    items = np.full((n_users, width), PAD, np.int32)
    for u, row in enumerate(rows):
        items[u, :len(row)] = row
    scores = np.where(items == PAD, np.nan, -np.arange(width, dtype=np.float32)[None, :]).astype(np.float32)
    return RankedLists(items, scores)


# ---------------------------------------------------------------- movers


def test_movers_by_hand():
    first = _lists([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]])
    middle = _lists([[3, 2, 1, 0], [0, 1], [0, 1]])  # user 0 moves most here, but only first → last counts
    last = _lists([[0, 1], [3, 2, 1, 0], [2, 7]])
    # Σ |rank in first − rank in last| over the last list's items found in the first list:
    # user 0: 0 + 0 = 0; user 1: 3 + 1 + 1 + 3 = 8; user 2: item 2 from 2 to 0 = 2, item 7 is new (not counted)
    out = X.movers({"stage1": first, "stage2": middle, "final": last})
    assert out == {"biggest mover": 1}
    change = np.array([np.nan, -0.2, 0.4])
    out = X.movers({"stage1": first, "final": last}, change)
    assert out == {"biggest mover": 1, "most improved": 2, "most degraded": 1}


def test_movers_edge_cases():
    one = _lists([[0, 1], [1, 0]])
    assert X.movers({"stage1": one}) == {}  # one stage: nothing moved
    assert X.movers({"stage1": one, "final": one}, np.array([np.nan, np.nan])) == {"biggest mover": 0}
    assert X.movers({"stage1": one}, np.array([0.1, 0.1])) == {"most improved": 0, "most degraded": 0}


def test_movers_on_a_trained_run_match_a_plain_loop(trained_small):
    lists = trained_small.lists()
    a, b = lists["stage1"], lists["final"]
    move = []
    for u in range(a.items.shape[0]):
        where = {int(i): r for r, i in enumerate(a.items[u]) if i != PAD}
        move.append(sum(abs(where[int(i)] - r) for r, i in enumerate(b.items[u]) if i != PAD and int(i) in where))
    assert max(move) > 0
    assert X.movers(lists)["biggest mover"] == move.index(max(move))


# ---------------------------------------------------------------- rank Δ sign


def test_rank_delta_is_positive_when_an_item_moves_up(trained_small):
    """user_table's docstring: Δ rank is positive when the item moved up (towards rank 1)."""
    prep = trained_small.prep
    n = prep.n_users
    lists = {"stage1": _lists([[5, 7, 9, 11]], n_users=n), "stage2": _lists([[9, 5, 11]], n_users=n)}
    table = X.user_table(prep, lists, 0).set_index("item_pos")
    delta = table["Δ Stage 1→Stage 2"]
    assert delta[9] == 2  # rank 3 → rank 1: moved up two places
    assert delta[5] == -1  # rank 1 → rank 2: moved down one
    assert delta[11] == 1  # rank 4 → rank 3: up one
    assert np.isnan(delta[7])  # dropped before stage 2: no rank to compare
    assert table.index[0] == 9  # sorted by the last stage's rank


def test_rank_delta_sign_on_a_trained_run(trained_small):
    lists = trained_small.lists()
    user = int(np.argmax(trained_small.post.lists.lengths))
    table = X.user_table(trained_small.prep, lists, user)
    pairs = [("Stage 1", "Stage 2"), ("Stage 2", "Stage 3"), ("Stage 3", "Final")]
    for a, b in pairs:
        both = table[[f"rank {a}", f"rank {b}"]].dropna()
        delta = table.loc[both.index, f"Δ {a}→{b}"]
        assert (np.sign(delta) == np.sign(both[f"rank {a}"] - both[f"rank {b}"])).all()
    up = table[table["Δ Stage 1→Stage 2"] > 0]
    assert len(up)
    assert (up["rank Stage 2"] < up["rank Stage 1"]).all()  # positive Δ ⇔ closer to rank 1


# ---------------------------------------------------------------- Sankey flows


def _flows_by_hand(prep, lists, users, max_age_days: float) -> dict[tuple[str, str], int]:
    """Catalog → filters (region, blocklist, seen, then age at "now") → eligible → stage lists, over users."""
    u_tab, c_tab = prep.dataset.users, prep.dataset.content
    published = pd.to_datetime(c_tab["publish_timestamp"], utc=True).astype("int64") // 10**9
    age_days = [max(prep.now_s - int(s), 0) / 86400 for s in published]
    restriction = c_tab["region_restriction"].astype(str).tolist()
    publisher = c_tab["publisher"].astype(str).tolist()
    train = prep.train
    seen: dict[int, set[int]] = {}
    for u, i in zip(train["user_pos"], train["item_pos"], strict=True):
        seen.setdefault(int(u), set()).add(int(i))
    total = {"region": 0, "blocklist": 0, "seen": 0, "age": 0, "eligible": 0}
    for u in users:
        region = str(u_tab["region"].iloc[u])
        blocked = {e.strip() for e in str(u_tab["blocklist"].iloc[u]).split(";") if e.strip()}
        for i in range(prep.n_items):
            if restriction[i] not in ("ALL", region):
                total["region"] += 1
            elif publisher[i] in blocked:
                total["blocklist"] += 1
            elif i in seen.get(u, set()):
                total["seen"] += 1
            elif max_age_days > 0 and age_days[i] > max_age_days:
                total["age"] += 1
            else:
                total["eligible"] += 1
    out = {("Catalog", f"Not eligible: {k}"): v for k, v in total.items() if k != "eligible" and v}
    out[("Catalog", "Eligible")] = total["eligible"]
    prev, prev_n = "Eligible", total["eligible"]
    for stage, name in (("stage1", "Stage 1 candidates"), ("stage2", "Stage 2 top N"), ("final", "Final list")):
        n = sum(int((lists[stage].items[u] != PAD).sum()) for u in users)
        out[(prev, name)] = n
        if prev_n > n:
            out[(prev, f"Dropped before {name}")] = prev_n - n
        prev, prev_n = name, n
    return out


def _interesting_users(prep) -> list[int]:
    """A user whose blocklist names a real publisher, a user in North America, and user 0."""
    users = prep.dataset.users
    publishers = set(prep.dataset.content["publisher"].astype(str))
    blocking = [u for u, b in enumerate(users["blocklist"].astype(str)) if set(b.split(";")) & publishers]
    na = [u for u, r in enumerate(users["region"].astype(str)) if r == "NA"]
    assert blocking
    assert na
    return [blocking[0], na[0], 0]


def test_sankey_flows_for_one_user_by_hand(trained_small):
    prep, cfg, lists = trained_small.prep, trained_small.config, trained_small.lists()
    for user in _interesting_users(prep):
        flows = X.sankey_flows(prep, cfg, lists, user)
        got = {(s, t): int(v) for s, t, v in flows.itertuples(index=False)}
        assert got == _flows_by_hand(prep, lists, [user], cfg.stage1.max_age_days), user
    blocker = _interesting_users(prep)[0]
    flows = X.sankey_flows(prep, cfg, lists, blocker)
    assert "Not eligible: blocklist" in set(flows["target"])  # the blocklist filter bites for this user


def test_sankey_flows_for_all_users_by_hand_and_conserved(trained_small):
    prep, cfg, lists = trained_small.prep, trained_small.config, trained_small.lists()
    flows = X.sankey_flows(prep, cfg, lists)
    got = {(s, t): int(v) for s, t, v in flows.itertuples(index=False)}
    assert got == _flows_by_hand(prep, lists, range(prep.n_users), cfg.stage1.max_age_days)
    assert flows.loc[flows["source"] == "Catalog", "value"].sum() == prep.n_items * prep.n_users
    for node in ("Eligible", "Stage 1 candidates", "Stage 2 top N"):  # what flows in flows out
        assert flows.loc[flows["source"] == node, "value"].sum() == flows.loc[flows["target"] == node, "value"].sum()


# ---------------------------------------------------------------- recall curve


def test_recall_curve_matches_a_plain_top_k(trained_small):
    prep, model = trained_small.prep, trained_small.stage1.model
    ks = [5, 20, 60]
    curve = X.recall_curve(prep, model, ks)
    test = prep.test
    positives: dict[int, set[int]] = {}
    for u, i in zip(test.loc[test["label"] == 1, "user_pos"], test.loc[test["label"] == 1, "item_pos"], strict=True):
        positives.setdefault(int(u), set()).add(int(i))
    assert len(positives) >= 10
    users = np.arange(prep.n_users)
    mask, _ = prep.eligible(users, model.config)
    scores = {**model.source_scores(prep, users), "hybrid blend": model.blend(prep, users)}
    assert set(curve["source"]) == set(scores)
    for source, matrix in scores.items():
        for k in ks:
            recalls = []
            for u, rel in positives.items():
                ok = [i for i in range(prep.n_items) if mask[u, i] and not np.isnan(matrix[u, i])]
                ranked = sorted(ok, key=lambda i, u=u: (-float(matrix[u, i]), i))  # score desc, ties by position
                recalls.append(len(set(ranked[:k]) & rel) / len(rel))
            row = curve[(curve["source"] == source) & (curve["k"] == k)]
            assert len(row) == 1
            assert row["recall"].iloc[0] == pytest.approx(np.mean(recalls), abs=1e-6), (source, k)
            assert row["users"].iloc[0] == len(positives)
    for _, part in curve.groupby("source"):  # more slots never find fewer held-out positives
        assert part.sort_values("k")["recall"].is_monotonic_increasing


def test_recall_curve_k_beyond_the_catalog_is_capped(trained_small):
    prep, model = trained_small.prep, trained_small.stage1.model
    curve = X.recall_curve(prep, model, [prep.n_items, prep.n_items * 3])
    wide = curve.pivot_table(index="source", columns="k", values="recall")
    pd.testing.assert_series_equal(wide[prep.n_items], wide[prep.n_items * 3], check_names=False)
