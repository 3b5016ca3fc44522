"""`python -m ranking …`: the headless pipeline (see ranking.cli)."""

import sys

from ranking.cli import main

sys.exit(main())
