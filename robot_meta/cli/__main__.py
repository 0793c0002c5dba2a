"""`python -m robot_meta.cli`: the same as the `robot-meta` console script."""

import sys

from robot_meta.cli import main

sys.exit(main())
