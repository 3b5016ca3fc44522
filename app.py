"""Multistage Ranking Lab — entry point: every numbered page in pages/, the home page (0_Home) first."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import pages.ui  # noqa: F401  (sets the thread environment once per process before any library import)

PAGES = sorted((Path(__file__).parent / "pages").glob("[0-9]*_*.py"))

navigation = st.navigation([st.Page(str(p), default=(i == 0)) for i, p in enumerate(PAGES)])
navigation.run()
