"""``python -m gcop``: the same as the ``gcop`` command (and what ``accelerate launch -m gcop`` runs)."""

from gcop.cli import console

console()
