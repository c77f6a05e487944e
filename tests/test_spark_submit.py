"""The EMR entry point: `spark-submit --py-files orchard_job.zip run_job.py ...` runs the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TEST_IMAGE_SIZE, stage_model_tools
from orchard_contract.emr_step import ENTRY_POINT, JOB_ARCHIVE, PUBLISHED_FILES
from orchard_functions.artifacts import package_archive

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[1]


def zip_package(destination: Path) -> Path:
    """The job's archive as `sam deploy` publishes it and EMR receives it through --py-files."""
    destination.write_bytes(package_archive(ROOT))
    return destination


def spark_submit(folder: Path, *job_arguments: str) -> subprocess.CompletedProcess[str]:
    """spark-submit of the job from its zipped package in `folder`, as on EMR but with a local master (and, given
    `--model-tools`, the pins where the bootstrap action stages them: the archive holds none)."""
    package = zip_package(folder / JOB_ARCHIVE)
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master", "local[2]",
        "--py-files", str(package),
        str(ROOT / PUBLISHED_FILES[ENTRY_POINT]),
        *job_arguments,
    ]
    # The job must import from the zip, as on EMR, not from this checkout.
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": "", "PYTHONSAFEPATH": "1"}
    return subprocess.run(command, env=environment, cwd=folder, capture_output=True, text=True, timeout=600)


def test_spark_submit_runs_the_job_from_a_zipped_package(tmp_path, sample, model_cache, onnx_model):
    output = tmp_path / "output"
    finished = spark_submit(
        tmp_path, str(sample.root), "--output", str(output),
        "--weights", "none", "--image-size", str(TEST_IMAGE_SIZE), "-k", "5", "--no-report",
        "--model-cache", model_cache, "--model-tools", str(stage_model_tools(tmp_path / "model-tools")),
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "finished in" in finished.stdout
    marker = json.loads((output / "_SUCCESS").read_text())
    assert marker["counts"]["images_read"] == sample.images


def test_an_invalid_manifest_fails_the_step_with_its_problems_and_no_traceback(tmp_path):
    manifest = tmp_path / "bad.json"
    manifest.write_text(json.dumps({"manifest_version": 1, "inputs": ["images/"], "job": {"batch_size": 0}}))
    finished = spark_submit(tmp_path, str(manifest), "--output", str(tmp_path / "output"))
    assert finished.returncode == 2, finished.stderr[-3000:]
    # spark-submit passes on the Python driver's stderr merged into its own stdout (as the step's stdout log on EMR).
    assert finished.stdout == (f"orchard-features: error: {manifest}: invalid manifest:\n"
                               "  - $.job.batch_size: 0 is less than the minimum of 1\n")
    assert "Traceback" not in finished.stderr and not (tmp_path / "output").exists()
