"""`python -m common.export`: the export command line (see `common.export.cli`)."""

import sys

from common.export.cli import main

sys.exit(main())
