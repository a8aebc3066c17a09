"""``python -m common.datasets SUBCOMMAND ...`` (see :mod:`common.datasets.cli`)."""

from common.datasets.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
