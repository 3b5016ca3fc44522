"""Stage-flow charts: how lists and quality change from stage 1 to the final feed.

Where it sits: beside ``ranking.viz.charts`` (the simpler charts); both draw in ``ranking.viz.style``.
Inputs are plain frames/dicts documented per function; stage names 'stage1', 'stage2',
'stage3', 'final' get their fixed colours and readable labels, other names are drawn as given.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb
from plotly.subplots import make_subplots

from ranking import names
from ranking.data import schema as S
from ranking.errors import DataError
from ranking.viz.style import (
    BAD,
    BASE_FONT,
    GOOD,
    NEUTRAL,
    STAGE_COLORS,
    STAGE_ORDER,
    _color,
    _empty,
    _fmt,
    _require,
    _stage_label,
    _style,
)

_DROP_WORDS = ("dropped", "ineligible", "removed", "filtered", "blocked", "already", "not ")


def _stages(values: pd.Series) -> list[str]:
    """Stages present in ``values``, in category order if ordered, else the pipeline's order."""
    present = list(dict.fromkeys(values.dropna().astype(str)))
    if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.ordered:
        return [str(c) for c in values.cat.categories if str(c) in present]
    return [s for s in STAGE_ORDER if s in present] + [s for s in present if s not in STAGE_ORDER]


def _short(stage: str) -> str:
    return _stage_label(stage).split("<br>")[0]


def _transition(name: str) -> tuple[str, str]:
    """('Stage 1 → Stage 2', target stage key) for 'stage1→stage2' or 'stage1->stage2'."""
    parts = [p.strip() for p in str(name).replace("->", "→").split("→")]
    return " → ".join(_short(p) for p in parts), parts[-1]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = hex_to_rgb(hex_color)
    return f"rgba({r}, {g}, {b}, {alpha})"


# ---------------------------------------------------------------- bump chart

def bump_chart(ranks: pd.DataFrame, highlight: int | None = None, max_items: int = 50, n_exits: int = 5,
               log_y: bool | None = None, title: str = "How the feed changes stage by stage") -> go.Figure:
    """Rank of each item across the stages of one user's lists (rank 1 at the top).

    ``ranks``: long frame, columns content_id, stage ('stage1'…'final', ordered categorical or str),
    rank (int, 1 = top; NaN or missing row = not in that stage's list), optional topic, publisher, score
    (hover); a user_id column, if any, must hold one user. An item missing from the next stage's list ends
    with an ×. Readability cap: the items that reach the second stage (furthest stage first, then rank
    there), up to ``max_items`` − ``n_exits``, plus the ``n_exits`` best-ranked items dropped after the
    first stage, plus ``highlight``. ``log_y`` (default: when a shown rank exceeds 50) keeps the short
    late-stage lists readable when stage-1 ranks run into the hundreds.
    """
    _require(ranks, (S.CONTENT_ID, "stage", "rank"), "bump_chart")
    users = ranks[S.USER_ID].to_numpy() if S.USER_ID in ranks.columns else np.zeros(0)
    if len(users) and (users != users[0]).any():
        raise DataError("bump_chart draws one user's lists; filter the rankings to one user_id first")
    df = ranks[ranks["rank"].notna() & ranks["stage"].notna()]
    df = df[df["rank"] >= 1]
    if df.empty:
        return _empty(title, 480)
    stages = _stages(df["stage"])
    df = df.assign(stage=df["stage"].astype(str), rank=df["rank"].astype(float))
    df["x"] = df["stage"].map({s: i for i, s in enumerate(stages)})
    df = df.sort_values([S.CONTENT_ID, "x", "rank"], kind="stable").drop_duplicates([S.CONTENT_ID, "x"])
    df = df.reset_index(drop=True)
    for col, fill in ((S.TOPIC, "—"), (S.PUBLISHER, "—"), ("score", math.nan)):
        if col not in df.columns:
            df[col] = fill
    df[S.TOPIC] = df[S.TOPIC].astype(object).where(df[S.TOPIC].notna(), "—").astype(str)
    # names come from uploaded data: Plotly renders tags in hover and legend text, so escape them
    df[S.TOPIC] = df[S.TOPIC].map(html.escape)
    df[S.PUBLISHER] = df[S.PUBLISHER].astype(object).where(df[S.PUBLISHER].notna(), "—").astype(str)
    df[S.PUBLISHER] = df[S.PUBLISHER].map(html.escape)

    end = df.loc[df.groupby(S.CONTENT_ID)["x"].idxmax()].set_index(S.CONTENT_ID)
    order = end[["x", "rank"]].sort_values(["x", "rank"], ascending=[False, True], kind="stable")
    reached, exited = order.index[order["x"] > 0], order.index[order["x"] == 0]
    if len(stages) == 1:  # nothing moves on; the cap falls back to the best ranks
        reached, exited = exited, exited[:0]
    n_exit = min(n_exits, len(exited))
    keep = [*reached[: max(max_items - n_exit, 0)], *exited[:n_exit]]
    highlight = highlight if highlight is not None and highlight in order.index else None
    if highlight is not None and highlight not in keep:
        keep.append(highlight)
    df = df[df[S.CONTENT_ID].isin(keep)]

    # Per point: the item's rank in the next / previous stage (NaN = not there → exit / entry marker).
    pts = df[[S.CONTENT_ID, "x", "rank"]]
    df = df.merge(pts.assign(x=pts["x"] - 1).rename(columns={"rank": "next_rank"}), on=[S.CONTENT_ID, "x"],
                  how="left")
    df = df.merge(pts.assign(x=pts["x"] + 1).rename(columns={"rank": "prev_rank"}), on=[S.CONTENT_ID, "x"],
                  how="left")
    last_x = len(stages) - 1
    exits = df["next_rank"].isna() & (df["x"] < last_x)
    entries = df["prev_rank"].isna() & (df["x"] > 0) & ~exits
    labels = [_stage_label(s, " ") for s in stages]
    df["status"] = np.where(df["x"] == last_x, f"in the {labels[-1]} list",
                            np.where(exits, "✕ dropped before the next stage",
                                     "moves on → rank " + df["next_rank"].map(_fmt)))
    df["status"] = np.where(entries, "◆ new at this stage; " + df["status"], df["status"])
    df["stage_label"] = df["x"].map(dict(enumerate(labels)))
    df["score_text"] = df["score"].map(lambda v: _fmt(v) if pd.isna(v) else f"{float(v):.3f}")
    df["symbol"] = np.select([exits, entries], ["x", "diamond"], "circle")
    df["size"] = np.select([exits, entries], [15, 13], 9)

    topics = sorted(df[S.TOPIC].unique())
    color = {t: _color(i) for i, t in enumerate(topics)}
    kept = set(keep)
    ids = [i for i in order.index if i in kept and i != highlight]
    ids += [highlight] if highlight in kept else []
    fig, seen = go.Figure(), set()
    by_item = dict(list(df.groupby(S.CONTENT_ID, sort=False)))
    for cid in ids:
        g = by_item[cid].sort_values("x")
        topic, is_hi = g[S.TOPIC].iloc[0], cid == highlight
        width, opacity = (7, 1.0) if is_hi else (2, 0.5) if highlight is not None else (2.5, 0.8)
        fig.add_trace(go.Scatter(
            x=g["x"], y=g["rank"], mode="lines+markers", name=topic, legendgroup=topic,
            showlegend=topic not in seen, meta=int(cid) if isinstance(cid, int | np.integer) else str(cid),
            line={"color": color[topic], "width": width}, opacity=opacity,
            marker={"symbol": g["symbol"].tolist(), "size": (g["size"] * (1.4 if is_hi else 1)).tolist()},
            customdata=g[[S.CONTENT_ID, S.TOPIC, S.PUBLISHER, "score_text", "stage_label", "status"]]
            .astype(str).to_numpy(),
            hovertemplate="<b>item %{customdata[0]}</b> · %{customdata[1]} · %{customdata[2]}<br>"
                          "%{customdata[4]}: rank %{y}, score %{customdata[3]}<br>"
                          "%{customdata[5]}<extra></extra>"))
        seen.add(topic)
        if is_hi:
            end = g.iloc[-1]
            fig.add_annotation(x=end["x"], y=end["rank"], text=f"<b>item {cid}</b>", showarrow=False,
                               xanchor="left", xshift=14, font={"size": BASE_FONT + 2})
    max_rank = float(df["rank"].max())
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(stages))),
                     ticktext=[_stage_label(s) for s in stages], range=[-0.3, last_x + 0.45])
    log = max_rank > 50 if log_y is None else log_y
    if log:
        ticks = [t for t in (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000) if t <= max_rank]
        fig.update_yaxes(type="log", range=[math.log10(max_rank * 1.15), math.log10(0.85)], tickvals=ticks)
    else:  # reversed explicit range: rank 1 on top, no empty rank-0 row
        step = 1 if max_rank <= 20 else 5 if max_rank <= 100 else 25
        fig.update_yaxes(range=[max_rank + 0.8, 0.2], tickvals=[1, *range(step, int(max_rank) + 1, step)])
    fig.update_layout(legend_title={"text": "topic:", "side": "left"})  # default "top" collides with the subtitle
    shown = f"showing {len(keep)} of {len(order)} items: those reaching {_short(stages[min(1, last_x)])}"
    shown += f" + {n_exit} best exits" if n_exit else ""
    shown += "; × = dropped before the next stage" + ("; ◆ = new at this stage" if entries.any() else "")
    height = int(np.clip(260 + 12 * max_rank, 500, 820))
    return _style(fig, f"{title}<br><sup>{shown}</sup>", "stage",
                  f"rank in the stage's list (1 = top{', log scale' if log else ''})", height, legend=True)


# ---------------------------------------------------------------- funnel flows

def funnel(counts: Mapping[str, float], unit: str = "items per user (mean)") -> go.Figure:
    """The ranking funnel as go.Funnel. ``counts``: ordered {stage name: count}, e.g.
    {"Catalog": 300, "Eligible": 231.4, ..., "Final": 10}; NaN counts are left out."""
    items = [(k, float(v)) for k, v in counts.items() if v is not None and not math.isnan(float(v))]
    title = "Ranking funnel"
    if not items:
        return _empty(title)
    names, values = [k for k, _ in items], [v for _, v in items]
    prev = [math.nan, *values[:-1]]
    # "kept" is short enough for a narrow bar's outside label in a half-width column ("of previous"
    # ran past the chart's edge at 1366 px); the hover still says "of previous"
    pct = ["" if i == 0 or not p else f"<br>{v / p:.0%} kept" for i, (v, p) in
           enumerate(zip(values, prev, strict=True))]
    # wide bars carry their label inside (white), narrow ones outside: nothing is clipped at the edge
    wide = [v >= 0.45 * values[0] for v in values]
    fig = go.Figure(go.Funnel(
        y=names, x=values, text=[_fmt(v) + t for v, t in zip(values, pct, strict=True)], textinfo="text",
        textposition=["inside" if w else "outside" for w in wide],
        insidetextfont={"color": "white"}, marker={"color": [_color(i) for i in range(len(values))]},
        customdata=[[_fmt(v), t.removeprefix("<br>").replace("kept", "of the previous step") or "first step"]
                    for v, t in zip(values, pct, strict=True)],
        hovertemplate=f"<b>%{{y}}</b><br>%{{customdata[0]}} {unit}<br>%{{customdata[1]}}<extra></extra>"))
    # two lines: the chart sits in a half-width column at 1366 px, where one long title was clipped
    return _style(fig, f"{title}: {_fmt(values[0])} → {_fmt(values[-1])}<br>{unit}", unit, "stage",
                  120 + 70 * len(values))


def sankey(flows: pd.DataFrame, unit: str = "items per user",
           title: str = "Where the catalog goes") -> go.Figure:
    """Sankey of the funnel. ``flows`` columns source, target (str), value (count or mean per user,
    e.g. "Catalog"→"Candidates"); zero/NaN flows dropped; nodes named dropped/ineligible… are grey."""
    _require(flows, ("source", "target", "value"), "sankey")
    f = flows[flows["value"].notna() & (flows["value"] > 0)]
    if f.empty:
        return _empty(title, 480)
    src, dst = f["source"].astype(str).tolist(), f["target"].astype(str).tolist()
    nodes = list(dict.fromkeys([*src, *dst]))
    idx = {n: i for i, n in enumerate(nodes)}
    inflow = f.groupby(f["target"].astype(str))["value"].sum()
    outflow = f.groupby(f["source"].astype(str))["value"].sum()
    total = [float(inflow.get(n, outflow.get(n, 0.0))) for n in nodes]
    grey = [any(w in n.lower() for w in _DROP_WORDS) for n in nodes]
    colors, k = [], 0
    for g in grey:
        colors.append(NEUTRAL if g else _color(k))
        k += not g
    labels = [_wrap(f"{n} ({_fmt(t)})") for n, t in zip(nodes, total, strict=True)]
    links = [idx[s] for s in src], [idx[t] for t in dst], f["value"].astype(float).tolist()
    link_colors = [_rgba(colors[idx[t]], 0.4) for t in dst]
    # Plotly writes the last column's labels to the *left* of its nodes, over the labels of the column before;
    # an invisible column after it (each end node flows on, unseen) keeps every label right of its node
    depth = dict.fromkeys(nodes, 0)
    for _ in nodes:  # longest path from a root; the funnel is a small DAG
        for a, b in zip(src, dst, strict=True):
            depth[b] = max(depth[b], depth[a] + 1)
    last = max(depth.values())
    ends = [idx[n] for n in nodes if depth[n] == last]
    ghost = len(nodes)
    labels.append("")
    colors.append("rgba(0,0,0,0)")
    for i in ends:
        links[0].append(i)
        links[1].append(ghost)
        links[2].append(total[i])
        link_colors.append("rgba(0,0,0,0)")
    hover = "%{source.label} → %{target.label}<br><b>%{value}</b><extra></extra>"
    fig = go.Figure(go.Sankey(
        arrangement="snap", valueformat=",.4~g", valuesuffix=f" {unit}",
        node={"label": labels, "color": colors, "line": {"color": ["#444444"] * (len(labels) - 1) + ["rgba(0,0,0,0)"]},
              "pad": 28, "thickness": 22, "align": "left", "hovertemplate": "<b>%{label}</b><extra></extra>"},
        link={"source": links[0], "target": links[1], "value": links[2], "color": link_colors,
              "hovertemplate": [hover] * len(src) + [None] * len(ends)},
        textfont={"size": BASE_FONT}))
    return _style(fig, f"{title} ({unit})", None, None, 600)


def _wrap(label: str, width: int = 16) -> str:
    """A long Sankey label on two lines, broken at the last space before ``width``: one-line labels of
    neighbouring columns overlapped each other and ran off the right edge at 1366 px."""
    if len(label) <= width + 4 or " " not in label[:width + 1]:
        return label
    cut = label.rindex(" ", 0, width + 1)
    return f"{label[:cut]}<br>{label[cut + 1:]}"


# ---------------------------------------------------------------- agreement between stages

def kendall_tau_hist(taus: Mapping[str, np.ndarray]) -> go.Figure:
    """Per-user Kendall τ between consecutive stages' orders. ``taus``: {"stage1→stage2": τ per user
    (float array, NaN = too few shared items, dropped)}; one facet per transition, median marked."""
    title = "Do stages agree? Kendall τ per user"
    if not taus:
        return _empty(title)
    names = list(taus)
    arrays = {n: np.asarray(taus[n], dtype=float).ravel() for n in names}
    clean = {n: a[~np.isnan(a)] for n, a in arrays.items()}
    heads = [f"{_transition(n)[0]}: n = {len(c):,}" + (f", median τ = {np.median(c):.2f}" if len(c) else
                                                         " (no users)") for n, c in clean.items()]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=heads,
                        vertical_spacing=0.12)
    for r, n in enumerate(names, start=1):
        label, target = _transition(n)
        fig.add_trace(go.Histogram(
            x=clean[n], xbins={"start": -1.0, "end": 1.0001, "size": 0.1}, name=label,
            marker_color=STAGE_COLORS.get(target, _color(r - 1)),
            hovertemplate=f"<b>{label}</b><br>τ in %{{x}}<br>%{{y}} users<extra></extra>"), row=r, col=1)
        if len(clean[n]):
            fig.add_vline(x=float(np.median(clean[n])), line_dash="dash", line_width=2, line_color="#333333",
                          row=r, col=1)
        fig.update_yaxes(title_text="users", row=r, col=1)
    fig.update_xaxes(range=[-1.05, 1.05])
    fig.update_xaxes(title_text="Kendall τ (−1 reversed, 0 unrelated, 1 same order; dashed = median)",
                     row=len(names), col=1)
    fig.update_annotations(font_size=BASE_FONT + 1)
    return _style(fig, title, None, None, 160 + 220 * len(names))


# ---------------------------------------------------------------- quality per stage

def metrics_by_stage(metrics: pd.DataFrame, metric_names: list[str],
                     baseline: Mapping[str, float] | None = None,
                     baseline_label: str = "Random<br>order") -> go.Figure:
    """Grouped bars, x = stage, one bar per metric (legend: display names). ``metrics``: one row per stage (a
    'stage' column, else the index) with a float column per metric (e.g. ndcg@10); ``baseline`` {metric: value}
    → a hatched first group, so each reference value stands beside the bars on its own scale (a line across
    every metric would compare NDCG with hit rate)."""
    title = "Ranking quality by stage"
    _require(metrics, metric_names, "metrics_by_stage")
    df = metrics if "stage" in metrics.columns else metrics.rename_axis("stage").reset_index()
    if df.empty or not metric_names:
        return _empty(title)
    df = df.assign(stage=df["stage"].astype(str)).set_index("stage").reindex(_stages(df["stage"]))
    base = {m: float(v) for m, v in (baseline or {}).items() if m in metric_names}
    fig = go.Figure()
    ticks = ([baseline_label] if base else []) + [_stage_label(s) for s in df.index]
    pattern = (["/"] if base else []) + [""] * len(df)
    for i, m in enumerate(metric_names):
        v = ([base.get(m, np.nan)] if base else []) + df[m].astype(float).tolist()
        fig.add_trace(go.Bar(
            x=ticks, y=v, name=names.title(m), marker={"color": _color(i), "pattern": {"shape": pattern}},
            text=[_fmt(x) if pd.isna(x) else f"{x:.3f}" for x in v],
            textposition="outside", hovertemplate=f"<b>%{{x}}</b><br>{names.title(m)} = %{{y:.3f}}<extra></extra>"))
    top = np.nanmax([*df[metric_names].to_numpy(dtype=float).ravel(), *base.values(), 0.0])
    fig.update_yaxes(range=[0, max(top, 1e-9) * 1.18])
    fig.update_layout(barmode="group")
    return _style(fig, title, "stage", "metric value (0–1, higher is better)", 480, legend=True)


def calibration(bins: pd.DataFrame) -> go.Figure:
    """Reliability diagram. ``bins`` columns stage, mean_predicted, observed_rate (0–1), count (pairs in the
    bin); marker area ∝ count; the legend shows each stage's expected calibration error (ECE)."""
    title = "Calibration: predicted vs observed positive rate"
    _require(bins, ("stage", "mean_predicted", "observed_rate", "count"), "calibration")
    df = bins.dropna(subset=["stage", "mean_predicted", "observed_rate"])
    if df.empty:
        return _empty(title, 560)
    df = df.assign(count=df["count"].fillna(0).astype(float), stage=df["stage"].astype(str))
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                               hoverinfo="skip", line={"dash": "dash", "color": "#777777", "width": 2}))
    sizeref = 2.0 * max(float(df["count"].max()), 1.0) / 38**2
    for i, s in enumerate(_stages(df["stage"])):
        g = df[df["stage"] == s].sort_values("mean_predicted")
        w = g["count"].sum()
        gap = (g["observed_rate"] - g["mean_predicted"]).abs()
        ece = float((g["count"] * gap).sum() / w) if w else math.nan
        label = _stage_label(s, " ")
        fig.add_trace(go.Scatter(
            x=g["mean_predicted"], y=g["observed_rate"], mode="lines+markers",
            name=f"{label} (ECE {ece:.3f})",
            line={"color": STAGE_COLORS.get(s, _color(i)), "width": 2},
            marker={"size": g["count"], "sizemode": "area", "sizeref": sizeref, "sizemin": 5},
            customdata=g[["count"]],
            hovertemplate=f"<b>{label}</b><br>predicted %{{x:.3f}}<br>observed %{{y:.3f}}"
                          "<br>%{customdata[0]:,.0f} pairs<extra></extra>"))
    fig.update_xaxes(range=[-0.02, 1.02], tickformat=".0%")
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%")
    return _style(fig, title, "mean predicted probability (per bin)", "observed positive rate", 580,
                  legend=True)


def improved_degraded(frame: pd.DataFrame, what: str = "per-user NDCG@10") -> go.Figure:
    """Stacked bars of the share of users improved / unchanged / degraded per transition. ``frame`` columns
    transition ('stage1→stage2'), improved, unchanged, degraded (shares or counts; rows are normalised),
    optional p_value (annotated beside the bar)."""
    title = f"Did each stage help? {what}"
    parts = ("improved", "unchanged", "degraded")
    _require(frame, ("transition", *parts), "improved_degraded")
    if frame.empty:
        return _empty(title)
    raw = frame[list(parts)].astype(float).fillna(0.0)
    shares = raw.div(raw.sum(axis=1).replace(0.0, np.nan), axis=0).fillna(0.0)
    ys = [_transition(t)[0] for t in frame["transition"]]
    fig = go.Figure()
    for part, color in zip(parts, (GOOD, NEUTRAL, BAD), strict=True):
        fig.add_trace(go.Bar(
            y=ys, x=shares[part], name=part, orientation="h", marker_color=color, texttemplate="%{x:.0%}",
            textposition="inside", insidetextanchor="middle",
            hovertemplate=f"<b>%{{y}}</b><br>{part}: %{{x:.1%}} of users<extra></extra>"))
    has_p = "p_value" in frame.columns
    if has_p:
        for y, p in zip(ys, frame["p_value"], strict=True):
            text = "p = —" if pd.isna(p) else "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
            fig.add_annotation(x=1.01, y=y, text=text, showarrow=False, xanchor="left")
    fig.update_layout(barmode="stack", legend_traceorder="normal",
                      uniformtext={"minsize": BASE_FONT - 3, "mode": "hide"})
    fig.update_xaxes(range=[0, 1.2 if has_p else 1.0], tickvals=[0, 0.25, 0.5, 0.75, 1.0], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    return _style(fig, title, "share of users", "transition", 200 + 70 * len(ys), legend=True)
