"""Shared fixtures: a local Spark session, a small sample dataset, a small random-weights model.

The model is MobileNetV2 with random weights (`weights=None`, seeded, batch-norm statistics
calibrated on noise): no test here uses or pretends to use ImageNet weights.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import SAMPLE_IMAGES, TEST_IMAGE_SIZE
from orchard_features.config import JobConfig
from orchard_features.model import ModelArtifact, prepare_model
from orchard_features.sample_data import DatasetSummary, generate_dataset

SPARK_SOURCES = Path(__file__).resolve().parents[1] / "spark"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def onnx_model(model_cache: str) -> ModelArtifact:
    return prepare_model("none", TEST_IMAGE_SIZE, "onnxruntime", model_cache)


@pytest.fixture(scope="session")
def keras_model():
    from orchard_features.model import build_keras_model

    return build_keras_model("none", TEST_IMAGE_SIZE)


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> DatasetSummary:
    return generate_dataset(tmp_path_factory.mktemp("data") / "fruits-360", images=SAMPLE_IMAGES)


@pytest.fixture(scope="session")
def spark():
    from orchard_features.cli import spark_session

    # Spark's Python workers import the job's functions by name: from this checkout's code, not
    # from wherever the package was installed (another worktree's, with an editable install).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SPARK_SOURCES), os.environ.get("PYTHONPATH")]))
    session = spark_session("orchard-tests")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def base_config(sample: DatasetSummary, model_cache: str, tmp_path_factory: pytest.TempPathFactory) -> JobConfig:
    return JobConfig(
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
def config_in(base_config: JobConfig, tmp_path: Path):
    """The base configuration writing into a fresh folder, with changes."""

    def make(**changes) -> JobConfig:
        return replace(base_config, **{"output": str(tmp_path / "output"), **changes})

    return make


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
