"""A generated world written in the MIND format (behaviors.tsv + news.tsv) with its truth (world.json).

Where it sits: beside ``ranking.data.synth`` (which makes the world) and ``ranking.data.mind`` (which
imports MIND). ``python -m ranking synth --format mind`` writes these files; ``import-mind`` on them,
then ``run``, evaluates the same impressions the world's own ``run`` does, with the truth carried over.

Mapping (world → MIND → lab after ``import-mind``):
  impression    one slate (one user, one visit: ``ranking.prep.impressions.impression_keys``) → one
                behaviors.tsv line; id 1..n in (user, visit start) order; time = the visit's start (slot 1's
                event time) as "11/15/2019 8:55:22 AM" (UTC); items in slot order, ``N…-1`` clicked, ``N…-0``
                not. After import every shown item carries the visit's start as its time (the world logs
                slot p 5 s × (p − 1) later), its slot as ``position`` and the line's ``impression_id``.
  history       the distinct news the user clicked in earlier lines, oldest first (MIND: clicks "before
                this impression"). Those clicks are already impressions: import without ``--history``.
  user          ``U`` + user_id zero-padded to one width, so MIND's sorted order is the world's order.
  news          every item, ``N`` + content_id zero-padded; category = topic, subcategory = publisher,
                title as generated; abstract, URL and entities empty.
  truth         world.json (the spec; the truth is recomputed from it, as for ``synth --no-truth``).
                ``import-mind`` copies a world.json found beside behaviors.tsv, and
                ``ranking.data.world.truth_from_spec`` maps the imported ids back through
                ``mind_user_id`` / ``mind_news_id`` (``world_positions``).
Not in MIND, so lost on the way: dwell_time, share, comment, hide (the import labels clicks only), the
logging propensity (no off-policy estimates), the seconds between slots, every user feature (device,
region, session length, blocklist, stated affinities) and item quality and restrictions (the import's
neutral constants), and users who never saw a slate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ranking.data import schema as S
from ranking.data.formats import write_bytes, write_json

if TYPE_CHECKING:
    from ranking.data.synth import World

BEHAVIORS, NEWS = "behaviors.tsv", "news.tsv"


def user_code(user_ids: np.ndarray, n_users: int) -> np.ndarray:
    """MIND user ids ``U`` + zero-padded user_id (sorted text order = numeric order)."""
    width = len(str(n_users))
    return np.char.add("U", np.char.zfill(np.asarray(user_ids, np.int64).astype(str), width))


def news_code(content_ids: np.ndarray, last_id: int) -> np.ndarray:
    """MIND news ids ``N`` + zero-padded content_id."""
    width = len(str(last_id))
    return np.char.add("N", np.char.zfill(np.asarray(content_ids, np.int64).astype(str), width))


def mind_time(ts: pd.Series) -> np.ndarray:
    """UTC times as MIND writes them: "11/15/2019 8:55:22 AM" (month, day and hour unpadded)."""
    t = pd.to_datetime(ts, utc=True)
    hour = t.dt.hour.to_numpy()
    h12 = np.where(hour % 12 == 0, 12, hour % 12)
    parts = (t.dt.month.astype(str) + "/" + t.dt.day.astype(str) + "/" + t.dt.year.astype(str) + " "
             + pd.Series(h12, index=t.index).astype(str) + ":" + t.dt.strftime("%M:%S") + " "
             + pd.Series(np.where(hour < 12, "AM", "PM"), index=t.index))
    return parts.to_numpy(dtype=object)


def mind_tables(users: pd.DataFrame, content: pd.DataFrame, interactions: pd.DataFrame, key: np.ndarray,
                event_s: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(behaviors, news) frames in MIND's column order, one behaviors row per logged slate.

    ``key`` numbers each interaction's slate and ``event_s`` is its event time in seconds, as the
    impression-aware split finds them (``ranking.prep.impressions.impression_keys``; the caller passes
    them in, so the data layer does not import the preparation layer)."""
    from ranking.data.policy import SLOT_SECONDS

    inter = interactions
    order = np.lexsort((inter[S.POSITION].to_numpy(np.int64), key))
    k = key[order]
    uid = inter[S.USER_ID].to_numpy(np.int64)[order]
    news = news_code(inter[S.CONTENT_ID].to_numpy(np.int64)[order], int(content[S.CONTENT_ID].max()))
    click = inter[S.CLICK].to_numpy(np.int64)[order] > 0
    tokens = pd.Series(np.char.add(news, np.where(click, "-1", "-0")))
    shown = tokens.groupby(k).agg(" ".join)
    first = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
    line_user = uid[first]
    pos = inter[S.POSITION].to_numpy(np.int64)[order][first]
    start_s = event_s[order][first] - SLOT_SECONDS * (pos - 1)  # the visit's start, as the split keys it
    history = _histories(k, uid, news, click, len(first))
    behaviors = pd.DataFrame({
        "impression_id": np.arange(1, len(first) + 1), "user_id": user_code(line_user, len(users)),
        "time": mind_time(pd.Series(pd.to_datetime(start_s, unit="s", utc=True))), "history": history,
        "impressions": shown.to_numpy()})
    ids = content[S.CONTENT_ID].to_numpy(np.int64)
    news_frame = pd.DataFrame({
        "news_id": news_code(ids, int(ids.max())), "category": content[S.TOPIC].astype(str).to_numpy(),
        "subcategory": content[S.PUBLISHER].astype(str).to_numpy(),
        "title": content[S.TITLE].astype(str).str.replace(r"[\t\r\n]", " ", regex=True).to_numpy()
        if S.TITLE in content else "", "abstract": "", "url": "", "title_entities": "", "abstract_entities": ""})
    return behaviors, news_frame


def _histories(k: np.ndarray, uid: np.ndarray, news: np.ndarray, click: np.ndarray, n_lines: int) -> list[str]:
    """Per line (lines are numbered in (user, start) order), the user's distinct clicks in earlier lines."""
    clicked: dict[int, list[str]] = {}
    seen: dict[int, set[str]] = {}
    hist = [""] * n_lines
    rows = np.flatnonzero(click)
    by_line = pd.Series(rows).groupby(k[rows]).agg(list).to_dict() if len(rows) else {}
    line_user = np.zeros(n_lines, np.int64)
    line_user[k] = uid
    for line in range(n_lines):
        u = int(line_user[line])
        past = clicked.setdefault(u, [])
        hist[line] = " ".join(past)
        for r in by_line.get(line, ()):
            if news[r] not in seen.setdefault(u, set()):
                seen[u].add(news[r])
                past.append(str(news[r]))
    return hist


def _tsv(frame: pd.DataFrame) -> bytes:
    """Tab-separated, no header, no quoting, LF: MIND's layout."""
    cols = [frame[c].astype(str) for c in frame.columns]
    text = cols[0].str.cat(cols[1:], sep="\t")
    return ("\n".join(text.tolist()) + "\n").encode("utf-8")


def write_mind_world(world: World, out_dir: str | Path, key: np.ndarray, event_s: np.ndarray) -> tuple[int, int]:
    """Write behaviors.tsv, news.tsv and world.json (``key``, ``event_s`` as in ``mind_tables``); returns
    (impression lines, news)."""
    out = Path(out_dir)
    behaviors, news = mind_tables(world.users, world.content, world.interactions, key, event_s)
    write_bytes(out / BEHAVIORS, _tsv(behaviors))
    write_bytes(out / NEWS, _tsv(news))
    write_json(out / S.WORLD_FILE, world.spec.to_dict())
    return len(behaviors), len(news)
