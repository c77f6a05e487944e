"""Quiet runs: the job's command line prints Orchard's lines only, none of its libraries'."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TEST_IMAGE_SIZE
from orchard_contract.run_outputs import MODEL_INFO_FILE
from orchard_features.closing_lines import closing_lines

pytestmark = [pytest.mark.spark, pytest.mark.model]

SOURCES = Path(__file__).resolve().parents[1] / "spark"
# What the job prints on stderr (orchard_features/job.py through progress.py): phases, counts, progress.
PROGRESS_LINE = re.compile(
    r"(  )?[A-Za-z][A-Za-z ]*(\.\.\.|: done in \d+\.\d s)"
    r"|  \d+ images selected of \d+ files found"
    r"|  MobileNetV2, \w+, \d+ px, weights: .+"
    r"|  \d+ of the \d+ images are in .+"
    r"|  featurizing: \d+/\d+ images \(\d+ %\)"
    r"|  \d+ featurized, \d+ reused, \d+ failed"
)


def test_a_run_prints_orchard_lines_only(tmp_path, sample):
    """Spark started, MobileNetV2 built and converted (an empty model cache), PCA and report: stderr holds the
    progress lines, stdout the closing lines, and nothing else."""
    output = tmp_path / "output"
    command = [sys.executable, "-m", "orchard_features", str(sample.root), "--output", str(output),
               "--weights", "none", "--image-size", str(TEST_IMAGE_SIZE), "-k", "5",
               "--model-cache", str(tmp_path / "models"), "--feature-store", str(tmp_path / "features")]
    environment = {**os.environ, "PYTHONPATH": str(SOURCES)}
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)  # set by conftest for this process: the job must set its own
    finished = subprocess.run(command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert [line for line in finished.stderr.splitlines() if not PROGRESS_LINE.fullmatch(line)] == []
    info = json.loads((output / "model_info" / MODEL_INFO_FILE).read_text())
    assert finished.stdout == closing_lines(info, str(output)) + "\n"
