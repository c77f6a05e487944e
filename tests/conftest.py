"""Shared fixtures: a local S3 endpoint and a local Spark session pointed at it, a small sample dataset, a small
random-weights model.

The model is MobileNetV2 with random weights (`weights=None`, seeded, batch-norm statistics
calibrated on noise): no test here uses or pretends to use ImageNet weights.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers import SAMPLE_IMAGES, TEST_IMAGE_SIZE, as_bare_driver, stage_model_tools
from orchard_contract.emr_step import BOOTSTRAP_SCRIPT, staged_path
from orchard_features.model import ModelArtifact, prepare_model
from orchard_features.model_tools import model_tools
from orchard_features.settings import JobSettings
from orchard_local.sample_data import DatasetSummary, generate_dataset

SPARK_SOURCES = Path(__file__).resolve().parents[1] / "spark"

if TYPE_CHECKING:
    from orchard_local.local_s3 import LocalS3

# The slow fixtures, and the marker a test that uses one (directly or through another fixture) gets;
# every test under tests/workflow/ (the state machine in moto) is marked `workflow`. `make test-fast`
# deselects all three.
SLOW_FIXTURES = {"spark": "spark", "onnx_model": "model", "keras_model": "model", "model_cache": "model"}
WORKFLOW_TESTS = Path(__file__).resolve().parent / "workflow"
# The installer the `staged` fixture stages: it records its arguments, says a line, fails if STUB_FAIL is set, and
# otherwise leaves `installed` behind (which `as_bare_driver` reads as the model tools installed).
INSTALLER_STUB = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/calls.log"
echo "2026-01-01T00:00:00Z [orchard-bootstrap] adding the packages of model.txt"
if [[ -n "${STUB_FAIL:-}" ]]; then echo "error: No solution found" >&2; exit 1; fi
touch "$(dirname "$0")/installed"
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the slow things it needs, so that no slow test escapes `make test-fast`."""
    for item in items:
        for fixture in SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(SLOW_FIXTURES[fixture])
        if WORKFLOW_TESTS in Path(item.path).parents:
            item.add_marker("workflow")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def onnx_model(model_cache: str) -> ModelArtifact:
    return prepare_model("none", TEST_IMAGE_SIZE, "onnxruntime", model_cache, model_tools())


@pytest.fixture(scope="session")
def keras_model():
    from orchard_features.model import build_keras_model

    return build_keras_model("none", TEST_IMAGE_SIZE)


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> DatasetSummary:
    return generate_dataset(tmp_path_factory.mktemp("data") / "fruits-360", images=SAMPLE_IMAGES)


@pytest.fixture(scope="session")
def local_s3_server() -> Iterator[LocalS3]:
    """moto's S3 on the loopback (orchard_local/local_s3.py) for the whole session, at 0 ms until a test
    sets a latency. Its buckets live in moto's in-process backends, which `mock_aws` resets: a test
    uploads what it reads just before reading it."""
    from orchard_local.local_s3 import local_s3

    with local_s3() as server:
        yield server


@pytest.fixture(scope="session")
def spark(local_s3_server: LocalS3):
    """One local Spark session, started with the local S3's endpoint and fake credentials in its
    environment: the JVM keeps them and its Python workers inherit them, so their boto3 clients
    read s3:// paths from the local S3. This process's own environment is restored at once: with
    an endpoint variable set, moto's in-process mocks in other tests would let their S3 calls go
    to that endpoint instead of catching them."""
    from orchard_features.cli import spark_session
    from orchard_local.local_s3 import process_environment

    # Spark's Python workers import the job's functions by name: from this checkout's code, not
    # from wherever the package was installed (another worktree's, with an editable install).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SPARK_SOURCES), os.environ.get("PYTHONPATH")]))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in process_environment(local_s3_server.endpoint_url).items():
            patch.setenv(name, value)
        session = spark_session("orchard-tests")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def base_settings(sample: DatasetSummary, model_cache: str, tmp_path_factory: pytest.TempPathFactory) -> JobSettings:
    return JobSettings(
        inputs=(str(sample.root),),
        output=str(tmp_path_factory.mktemp("output")),
        run_name="test",
        weights="none",
        image_size=TEST_IMAGE_SIZE,
        pca_components=10,
        batch_size=16,
        images_per_partition=16,
        model_cache=model_cache,
    )


@pytest.fixture
def settings_in(base_settings: JobSettings, tmp_path: Path):
    """The base settings writing into a fresh folder, with changes."""

    def make(**changes) -> JobSettings:
        return replace(base_settings, **{"output": str(tmp_path / "output"), **changes})

    return make


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    """What the bootstrap action stages on the primary node, its installer a stub that records its arguments and
    leaves `installed` behind."""
    folder = stage_model_tools(tmp_path / "model-tools")
    Path(staged_path(BOOTSTRAP_SCRIPT, str(folder))).write_text(INSTALLER_STUB)
    return folder


@pytest.fixture
def bare_driver(staged: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as EMR's primary node after its bootstrap (`as_bare_driver`); returns the staged folder."""
    as_bare_driver(monkeypatch, staged)
    return staged


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
