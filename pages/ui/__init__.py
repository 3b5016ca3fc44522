"""Page helpers shared by app.py and pages/ (a sub-folder, so Streamlit does not list it as a page)."""

import os

# XGBoost/OpenMP threads busy-wait by default; with several sessions on 2 cores that spinning
# made fits 5-7x slower. Must be set before xgboost is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
