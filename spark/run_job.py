"""spark-submit entry point of the feature job (EMR step): `spark-submit run_job.py INPUT --output OUT`."""

import sys

from orchard_features.cli import main

sys.exit(main())
