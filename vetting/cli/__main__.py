"""``python -m vetting.cli.main``: the same as ``vet``."""

import sys

from vetting.cli.main import main

sys.exit(main())
