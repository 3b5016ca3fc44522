"""The lab's session model, apart from widgets: what a browser session owns, trains and saves.

Nothing here imports streamlit, so unit tests drive it directly. ``state`` holds one session's
data, trained stages and the rules that make them stale; ``datasets`` resolves the chosen
dataset (shared, immutable, cached per process), ``generation`` makes a generated world once for
every session asking for it; ``jobs`` trains stages in the background through
``ranking.pipeline``; ``runs`` saves and restores trained sessions for lesson links. The pages
keep one ``LabState`` per browser session in ``st.session_state`` (see pages/ui/common.py).
"""
