"""The EMR step's stderr, where EMR archives it: `<LogUri>/<cluster id>/steps/<step id>/stderr.gz` (EMR Management
Guide, "View log files archived to Amazon S3"; the run summary's `links.step_logs` is that folder), and the job's
error line in it."""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from orchard_contract.paths import join, split_location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STDERR = "stderr.gz"
TRACEBACK = "Traceback (most recent call last):"
USAGE_ERROR = ": error: "  # what argparse-style commands print before their message (orchard-features: error: ...)


def stderr_uri(step_logs: str) -> str:
    return join(step_logs, STDERR)


def step_stderr(s3: S3Client, step_logs: str) -> str | None:
    """The step's stderr, or None while EMR has not archived it (GetObject answers NoSuchKey)."""
    _, bucket, path = split_location(stderr_uri(step_logs))
    try:
        body = s3.get_object(Bucket=bucket, Key=path.lstrip("/"))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return gzip.decompress(body).decode("utf-8", errors="replace")


def job_error_line(stderr: str) -> str | None:
    """The line that says why the job failed: the exception line ending the last Python traceback (the first line
    after it that is not indented), else the last `<command>: error: ...` line the job's command printed
    (orchard_features.cli ends an OrchardError so, without a traceback)."""
    lines = stderr.splitlines()
    starts = [index for index, line in enumerate(lines) if line.strip() == TRACEBACK]
    if starts:
        return next((line for line in lines[starts[-1] + 1:] if line and not line[0].isspace()), None)
    return next((line for line in reversed(lines) if USAGE_ERROR in line), None)
