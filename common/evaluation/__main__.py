"""``python -m common.evaluation``: see :mod:`common.evaluation.cli`."""

from common.evaluation.cli import main

raise SystemExit(main())
