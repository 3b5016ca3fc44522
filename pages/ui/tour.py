"""The guided lesson: numbered steps through every page, each setting the app to the state it explains.

A step names its page, the settings it needs (every other setting goes back to its default, so a
step always shows the same thing) and the user it follows. The step number travels in the URL
(``?tour=3``): opening such a link, Back, Next and F5 all land on the step's page in the step's state.
Settings are applied in button callbacks, before any widget of the next run is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st
import streamlit.components.v1 as components

from . import settings as W

KEY = "_tour"  # session state: the current step (1-based), absent outside the lesson


@dataclass(frozen=True)
class Step:
    """One lesson step: title, the page it shows, what to look at, and the app state it needs."""

    title: str
    page: str
    text: str
    settings: dict = field(default_factory=dict)
    user: int | None = None
    focus: str | None = None  # key of the chart the step talks about: scrolled into view under the panel


STEPS: tuple[Step, ...] = (
    Step("What is a label?", "pages/1_Labels.py",
         "Every impression gets an engagement score from what the user did (click, dwell, share, comment, "
         "hide); it is **positive when the score is above the threshold**. The stages predict each of these "
         "signals and rank by the weighted sum, so the weights decide what the feed shows; the threshold "
         "decides what held-out metrics count as a hit.",
         focus="hist"),
    Step("Candidates", "pages/2_Stage_1_Candidates.py",
         "Stage 1 shortlists **K items per user** from the whole catalog with cheap sources and removes what "
         "the user may not see. Its measure is **recall**: did the items the user engaged with survive?",
         focus="recall_chart"),
    Step("The XGBoost ranker", "pages/3_Stage_2_GBDT.py",
         "Stage 2 scores each candidate with gradient-boosted trees over features of the *pair* (this user, "
         "this item) and keeps the **top N**. Open *Feature importance* to see what it relies on.",
         focus="lc"),
    Step("The neural re-ranker", "pages/4_Stage_3_Neural.py",
         "Stage 3 re-orders only the top N with a heavier model: a neural network with user and item "
         "embeddings. Watch the loss curve: training loss falls, held-out loss tells when to stop.",
         focus="loss"),
    Step("Post-processing", "pages/4_Stage_4_Post_processing.py",
         "The last step is not a model: it cuts the list to M items and trades a little relevance for variety "
         "(MMR λ or caps per topic and publisher). The curve shows what each λ costs and buys over all users.",
         focus="tradeoff"),
    Step("A feed you can read", "pages/5_Feed.py",
         "The same user's feed as cards — headline, publisher, topic, age and what the model expects — beside "
         "the truly best feed for the current weights. Move a weight on the Labels page: the feed re-ranks "
         "at once, because the models predict each signal and the weights only combine them.", user=7),
    Step("One feed through the funnel", "pages/5_Rank_shifts.py",
         "The bump chart follows **one user's items** from stage 1 to the final feed: rising lines were "
         "promoted, × marks where an item dropped out. Try the *biggest mover* shortcut.",
         user=7, focus="bump"),
    Step("Did it get better?", "pages/6_Evaluation.py",
         "Every stage is measured the same way. On a generated world, **oracle NDCG** compares each list "
         "with the best list the users' *true* preferences allow: 1 is perfect. The line to beat is the "
         "**random order** of eligible items, and it is well above 0: the true preferences give almost every "
         "eligible item some gain, so NDCG measures how much better than chance the order is.",
         focus="metrics"),
    Step("Ship it to the simulated world", "pages/7_Online_test.py",
         "Offline numbers are a forecast. Here the generated world is the audience: run an **A/B test** of two "
         "feeds and see whether offline agreed, or **interleave** them and count which earns the clicks; then "
         "*Deploy for R rounds* and watch a feed retrained on its own log narrow what people see."),
    Step("Your turn", "pages/0_Home.py",
         "Change one setting (for example K on the Candidates page or the tree depth on the XGBoost page), "
         "retrain, and compare: the results of the last training stay on screen, greyed, until you do."),
)


def current() -> int | None:
    """The lesson step shown (1-based), or None outside the lesson."""
    n = st.session_state.get(KEY)
    return n if isinstance(n, int) and 1 <= n <= len(STEPS) else None


def _apply(n: int) -> None:
    """Put the app in step n's state (a button callback: runs before the next run draws widgets)."""
    step = STEPS[n - 1]
    W.set_values({s.key: step.settings.get(s.key, s.default) for s in W.SETTINGS})
    if step.user is not None:
        st.session_state["user"] = step.user
    st.session_state[KEY] = n
    st.session_state["_tour_go"] = step.page
    st.session_state["_tour_scroll"] = True


def _end() -> None:
    st.session_state.pop(KEY, None)


def adopt() -> None:
    """Once per session: a link with ``?tour=N`` opens step N, on its page, in its state."""
    if st.session_state.get("_tour_adopted"):
        return
    st.session_state["_tour_adopted"] = True
    from .params import parse  # params declares the step range from STEPS

    if "tour" in st.query_params:
        n, problem = parse("tour", st.query_params["tour"])
        if problem is None:
            _apply(n)


def go() -> None:
    """Switch to the page a Back/Next click (or a lesson link) asked for; call before drawing the page."""
    page = st.session_state.pop("_tour_go", None)
    if page is not None:
        st.switch_page(page)


def panel() -> None:
    """The lesson bar at the top of every page while the lesson runs: step, what to look at, Back/Next."""
    n = current()
    if n is None:
        return
    step = STEPS[n - 1]
    with st.container(border=True, key="tour_panel"):
        st.markdown(f":material/school: **Lesson · step {n} of {len(STEPS)}: {step.title}**  \n{step.text}")
        back, nxt, end, _ = st.columns([1, 1, 1, 3])
        back.button("Back", key="tour_back", icon=":material/arrow_back:", disabled=n == 1,
                    on_click=_apply, args=(n - 1,))
        if n < len(STEPS):
            nxt.button("Next", key="tour_next", type="primary", icon=":material/arrow_forward:",
                       on_click=_apply, args=(n + 1,))
        end.button("End lesson", key="tour_end", icon=":material/close:", on_click=_end)
    st.html(_STICKY)
    if step.focus and st.session_state.pop("_tour_scroll", False):
        # an iframe's script (components.html) runs on every mount; st.html's did not run here (Streamlit 1.67)
        components.html(_SCROLL.replace("FOCUS", step.focus), height=0)


# Once per step: when the step's chart has drawn, scroll it up to just under the lesson panel (which stays
# in view: it is sticky), so the subject of the step is on screen at 1366×768 without scrolling by hand.
# sticky on the panel's wrapper: the keyed container sits in a wrapper of its own height, which pins it in place
_STICKY = ("<style>div:has(> .st-key-tour_panel) { position: sticky; top: 3.5rem; z-index: 20; } "
           ".st-key-tour_panel { background: #ffffff; }</style>")
_SCROLL = """<script>
(() => {
  let tries = 0;
  const go = () => {
    const doc = window.parent.document;
    const el = doc.querySelector('.st-key-FOCUS'), panel = doc.querySelector('.st-key-tour_panel');
    const main = doc.querySelector('[data-testid=stMain]');
    if (!el || !panel || !main || !el.querySelector('.main-svg')) { if (tries++ < 150) setTimeout(go, 100); return; }
    const pane = el.closest('[data-testid=stTabPanel]');
    if (pane && !el.getClientRects().length && tries++ < 150) {  // the chart is on a tab not shown: open it
      const root = pane.closest('[data-testid=stTabs]');
      const own = e => e.closest('[data-testid=stTabs]') === root;
      const panes = [...root.querySelectorAll('[data-testid=stTabPanel]')].filter(own);
      [...root.querySelectorAll('[role=tab]')].filter(own)[panes.indexOf(pane)]?.click();
      setTimeout(go, 200);
      return;
    }
    main.scrollBy({top: el.getBoundingClientRect().top - panel.getBoundingClientRect().bottom - 8});
  };
  go();
})();
</script>"""


def start_button(key: str = "tour_start") -> None:
    """Start the lesson (sidebar, or the presenter's page menu), or nothing while it runs."""
    if current() is None:
        st.button("Guided lesson", key=key, icon=":material/school:", on_click=_apply, args=(1,),
                  help="Step by step through every page: " + ", ".join(
                      f"{i}. {s.title}" for i, s in enumerate(STEPS, 1)))
