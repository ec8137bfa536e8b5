"""`python -m agent.cli`: the `deskpilot` command without an installed entry point."""

import sys

from agent.cli.main import main

sys.exit(main())
