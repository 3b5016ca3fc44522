"""Online test — ship a setting to the generated world: A/B test, interleaving, and the feedback loop."""

from __future__ import annotations

import streamlit as st

from pages.ui import common as C
from pages.ui import online
from ranking.online.live import no_world_message

ctx = C.page(
    "Online test",
    "Every other page is offline. Here the generated world is the **live audience**: each simulated day its users "
    "visit, see the top 10 of a feed, and click, dwell, share, comment or hide exactly as the world's model says "
    "(a lower slot is examined less often). An **A/B test** splits the users at random between two feeds and "
    "reports each signal's difference with a 95 % interval; **interleaving** shows both feeds merged in one slate "
    "and counts which one earns the clicks. **Deploy for R rounds** retrains on the feed's own log, round after "
    "round, and measures whether what people see narrows.",
)
if ctx is not None:
    if not ctx.dataset.spec:
        st.info(no_world_message(ctx.dataset))
        st.button("Use the bundled sample world", key="online_use_sample", icon=":material/public:",
                  on_click=lambda: st.session_state.update(data="sample"))
        st.page_link("pages/0_Home.py", label="Or generate a world on Home", icon=":material/home:")
        st.stop()
    online.ab_section(ctx)
    st.divider()
    online.loop_section(ctx)
