"""`python -m gridbot.cli`, as the tests run the command."""

import sys

from gridbot.cli import main

sys.exit(main())
