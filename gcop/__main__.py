"""``python -m gcop``: the same as the ``gcop`` command (and what ``accelerate launch -m gcop`` runs)."""

import sys

from gcop.cli import main

sys.exit(main())
