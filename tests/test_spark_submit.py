"""The EMR entry point: `spark-submit --py-files orchard_job.zip run_job.py ...` runs the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TEST_IMAGE_SIZE
from orchard_pipeline.artifacts import JOB_ARCHIVE, PUBLISHED_FILES, package_archive

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]


def zip_package(destination: Path) -> Path:
    """The job's archive as `sam deploy` publishes it and EMR receives it through --py-files."""
    destination.write_bytes(package_archive(ROOT))
    return destination


def test_spark_submit_runs_the_job_from_a_zipped_package(tmp_path, sample, model_cache, onnx_model):
    package = zip_package(tmp_path / JOB_ARCHIVE)
    output = tmp_path / "output"
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master", "local[2]",
        "--py-files", str(package),
        str(ROOT / PUBLISHED_FILES["run_job.py"]),
        str(sample.root), "--output", str(output),
        "--weights", "none", "--image-size", str(TEST_IMAGE_SIZE), "-k", "5", "--no-report",
        "--model-cache", model_cache,
    ]
    # The job must import from the zip, as on EMR, not from this checkout.
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": "", "PYTHONSAFEPATH": "1"}
    finished = subprocess.run(command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "finished in" in finished.stdout
    marker = json.loads((output / "_SUCCESS").read_text())
    assert marker["counts"]["images_read"] == sample.images
