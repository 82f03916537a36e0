"""`python -m harness ...`: the local harness's command line (see harness/cli.py)."""

import sys

from harness.cli import main

sys.exit(main())
