"""Home page of the Multistage Ranking Lab."""

import streamlit as st

st.set_page_config(page_title="Multistage Ranking Lab", page_icon="📰", layout="wide")
st.title("Multistage Ranking Lab")
st.write("A news feed ranked in stages: candidates → XGBoost → neural re-ranker → final list.")
