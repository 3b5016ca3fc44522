"""Page helpers shared by the pages (a sub-folder, so Streamlit does not list it as a page).

``common`` draws what every page shares, ``settings`` maps widgets to the pipeline config and the
URL, ``params`` parses every URL parameter (``links`` adopts them and says what was unusable),
``worlds`` shows a generated world's progress, ``views`` draws the home page's sections. What a
session *owns* lives in ``pages.session``.
"""

import logging
import os

# XGBoost/OpenMP threads busy-wait by default; with several sessions on 2 cores that spinning
# made fits 5-7x slower. Must be set before xgboost is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pages.session.jobs import single_threaded_blas

single_threaded_blas()  # once per server process, before any session's script or training calls BLAS

_lab_log = logging.getLogger("lab")
if not _lab_log.handlers:  # the lab's own lines (start-up training, each job's phases) in the server's output
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _lab_log.addHandler(_handler)
    _lab_log.setLevel(logging.INFO)
    _lab_log.propagate = False

if os.environ.get("LAB_STACKS_ON_SIGNAL"):  # diagnosis: `kill -USR1 <server>` prints every thread's stack
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)
