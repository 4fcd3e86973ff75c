import sys

from planner.cli.commands import main

sys.exit(main())
