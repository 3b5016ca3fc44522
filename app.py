"""Multistage Ranking Lab — entry point: the home page plus every numbered page found in pages/."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.ui import home

PAGES = sorted((Path(__file__).parent / "pages").glob("[0-9]*_*.py"))

navigation = st.navigation([
    st.Page(home.render, title="Home", icon=":material/home:", default=True, url_path="home"),
    *(st.Page(str(p)) for p in PAGES),  # titles and URLs from the numbered file names, as before
])
navigation.run()
