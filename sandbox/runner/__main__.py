"""``python3 -P -m runner serve|once``: the runner's command line (see :mod:`runner.cli`)."""

from .cli import main

main()
