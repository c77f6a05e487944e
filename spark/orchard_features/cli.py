"""The job's entry point: parse arguments, start Spark, run, print the closing lines or the user's error, stop Spark."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from orchard_contract.errors import OrchardError
from orchard_features import quiet, storage
from orchard_features.closing_lines import closing_lines
from orchard_features.job import run
from orchard_features.settings import PROG, parse_arguments, settings_from_arguments

LOCAL_DRIVER_MEMORY = "4g"
# The work is in the Python workers: a JVM that stops at the quick C1 compiler warms up
# seconds sooner and loses nothing measurable on this job.
LOCAL_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"
USAGE_ERROR = 2  # argparse's exit status for a command line it refuses


def spark_session(app_name: str = PROG, verbose: bool = False) -> SparkSession:
    """The session: whatever spark-submit configured, else local mode on every core; quiet unless `verbose`."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if not verbose:
        quiet.quiet_run()
    builder = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false")
    if "SPARK_ENV_LOADED" not in os.environ:  # started by python, not spark-submit
        java_options = LOCAL_JAVA_OPTIONS if verbose else f"{LOCAL_JAVA_OPTIONS} {quiet.LOG4J2_JAVA_OPTION}"
        builder = (
            builder.master("local[*]")
            .config("spark.driver.memory", LOCAL_DRIVER_MEMORY)
            .config("spark.driver.extraJavaOptions", java_options)
        )
    spark = builder.getOrCreate()
    if not verbose:
        spark.sparkContext.setLogLevel(quiet.SPARK_LOG_LEVEL)
    return spark


def main(argv: Sequence[str] | None = None) -> int:
    """Run the feature job with command-line arguments `argv`.

    Input or data it cannot use (an `OrchardError`) ends it as argparse ends a usage error: its message on
    stderr after `orchard-features: error: `, no traceback, status 2.
    """
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    spark = spark_session(verbose=args.verbose)
    try:
        settings = settings_from_arguments(args, lambda uri: storage.read_text(spark, uri))
        info = run(spark, settings)
        print(closing_lines(info, settings.output))
    except OrchardError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        spark.stop()
    return 0
