"""``python3 -P -m runner serve|once``: the runner's command line (see :mod:`runner.cli`)."""

from .cli import main

if __name__ == "__main__":  # imported by name, it runs nothing
    main()
