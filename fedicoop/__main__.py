"""`python -m fedicoop`: the same as the `fedicoop` command."""

import sys

from fedicoop.cli.main import main

sys.exit(main())
