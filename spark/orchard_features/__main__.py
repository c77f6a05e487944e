"""`python -m orchard_features INPUT --output OUT`: the feature job in local mode."""

import sys

from orchard_features.cli import main

sys.exit(main())
