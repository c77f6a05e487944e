"""Where a run's model comes from: the model store (a model converted by one run is kept under its content-keyed
name and taken by the next run, on another cluster with an empty local cache, without building anything), and
weights given as a URI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from helpers import as_bare_driver, installer_calls
from orchard_features import model, storage
from orchard_features.settings import parse_arguments, settings_from_arguments

pytestmark = pytest.mark.spark

STORE_IMAGE_SIZE = 64  # a model of its own: the session's 96 px one is already shipped from another path


def no_build(*args, **kwargs):
    raise AssertionError("the model was built although the store has it")


def test_a_second_run_with_an_empty_cache_takes_the_model_from_the_store(spark, settings_in, tmp_path, monkeypatch,
                                                                         staged):
    """The second run's driver is an EMR primary node as bootstrapped: no model tool installed, nor importable, only
    staged; it takes the model from the store without installing them."""
    store = tmp_path / "store"
    first = settings_in(image_size=STORE_IMAGE_SIZE, model_cache=str(tmp_path / "cluster-1"), model_store=f"file:{store}")
    built = model.load_model(spark, first)
    assert not built.from_cache
    stored = store / Path(built.path).name
    assert stored.read_bytes() == Path(built.path).read_bytes()

    as_bare_driver(monkeypatch, staged)
    monkeypatch.setattr(model, "build_keras_model", no_build)
    second = replace(first, model_cache=str(tmp_path / "cluster-2"), model_tools=str(staged))
    fetched = model.load_model(spark, second)
    assert fetched.from_cache and Path(fetched.path).parent == Path(second.model_cache)
    assert fetched.key == built.key and Path(fetched.path).read_bytes() == stored.read_bytes()
    assert list(Path(second.model_cache).iterdir()) == [Path(fetched.path)]  # no partial copy left behind
    assert installer_calls(staged) == []


def test_a_store_without_the_model_is_no_error(spark, tmp_path):
    local = tmp_path / "cache" / "mobilenet_v2-0123.onnx"
    assert not model.fetch_stored_model(spark, f"file:{tmp_path}/empty-store", str(local))
    assert not local.exists()


def test_weights_given_as_a_uri_are_copied_to_the_cache(spark, tmp_path, keras_model):
    weights = tmp_path / "mine.weights.h5"
    keras_model.save_weights(weights)
    local = model.fetch_weights(spark, f"file:{weights}", str(tmp_path / "cache"))
    assert Path(local).read_bytes() == weights.read_bytes() and Path(local).parent != weights.parent
    with pytest.raises(storage.InputError, match="file not found: file:/nowhere/w.h5"):
        model.fetch_weights(spark, "file:/nowhere/w.h5", str(tmp_path / "cache"))


def test_the_store_is_an_option_of_the_command_line():
    arguments = ["in", "--output", "out", "--model-store", "s3://artifacts/models/"]
    assert settings_from_arguments(parse_arguments(arguments), str).model_store == "s3://artifacts/models/"
    assert settings_from_arguments(parse_arguments(arguments[:3]), str).model_store is None
