"""The model tools on a driver that has them or not: the converted model's key from their pins either way, a model
store hit with nothing installed or imported, a miss that installs them once with the staged installer (a stub here;
tests/test_bootstrap.py runs the real one) and then builds, and the errors that say why not. No Spark, no TensorFlow:
the store, the build and the export are fakes where a test needs them."""

from __future__ import annotations

import io
import sys
from importlib import metadata
from pathlib import Path

import pytest

from helpers import TEST_IMAGE_SIZE, TOOL_MODULES, installer_calls
from orchard_contract.emr_step import BOOTSTRAP_SCRIPT, feature_step, staged_path
from orchard_features import model
from orchard_features.model_tools import (
    ModelToolsError,
    install_command,
    model_tools,
    normalized,
    parse_pins,
)
from orchard_features.progress import Progress
from orchard_features.settings import JobSettings
from orchard_local.spark_step import job_arguments, without_node_options


def settings_for(tmp_path: Path, staged: Path | None) -> JobSettings:
    return JobSettings(inputs=("in",), output="out", weights="none", image_size=TEST_IMAGE_SIZE,
                       model_cache=str(tmp_path / "cache"), model_store=str(tmp_path / "store"),
                       model_tools=str(staged) if staged else None)


def never(what: str):
    def fail(*args, **kwargs):
        raise AssertionError(f"{what} was called")
    return fail


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A model store holding the models named in `held`; what was stored in it is in `stored`."""
    contents: dict[str, list[str]] = {"held": [], "stored": []}

    def fetch(spark, store_uri: str, local_path: str) -> bool:
        if Path(local_path).name not in contents["held"]:
            return False
        Path(local_path).write_bytes(b"converted")
        return True

    monkeypatch.setattr(model, "fetch_stored_model", fetch)
    monkeypatch.setattr(model, "store_model", lambda spark, path, store_uri: contents["stored"].append(path))
    return contents


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Building and exporting a model without TensorFlow; the engines exported for, in order."""
    exported: list[str] = []
    monkeypatch.setattr(model, "quiet_tensorflow", lambda: None)
    monkeypatch.setattr(model, "build_keras_model", lambda weights, image_size: "keras model")

    def export(keras_model, engine: str, destination: Path) -> None:
        destination.write_bytes(b"converted")
        exported.append(engine)

    monkeypatch.setattr(model, "export_model", export)
    return exported


def test_the_models_key_is_the_same_with_and_without_the_model_tools(staged, monkeypatch):
    here = model.cache_key("none", TEST_IMAGE_SIZE, "onnxruntime", model_tools().pins)
    monkeypatch.setattr(metadata, "version", never("reading an installed version"))
    for module in TOOL_MODULES:
        monkeypatch.setitem(sys.modules, module, None)

    assert model.cache_key("none", TEST_IMAGE_SIZE, "onnxruntime", model_tools(str(staged)).pins) == here
    assert model.cache_key("none", TEST_IMAGE_SIZE, "tensorflow", model_tools().pins) != here


def test_a_store_hit_installs_nothing_and_imports_no_model_tool(bare_driver, store, tmp_path, monkeypatch):
    settings = settings_for(tmp_path, bare_driver)
    key = model.cache_key("none", TEST_IMAGE_SIZE, "onnxruntime", model_tools(str(bare_driver)).pins)
    store["held"].append(f"mobilenet_v2-{key}.onnx")
    monkeypatch.setattr(model, "build_keras_model", never("building the model"))
    progress = Progress(enabled=False)

    artifact = model.obtain_model(None, settings, progress)

    assert artifact.from_cache and artifact.key == key and Path(artifact.path).read_bytes() == b"converted"
    assert installer_calls(bare_driver) == [] and "model_tools" not in progress.seconds
    assert store["stored"] == []


def test_a_miss_on_a_bare_driver_installs_the_model_tools_once_then_builds_and_stores(bare_driver, store, fake_build,
                                                                                     tmp_path):
    settings = settings_for(tmp_path, bare_driver)
    progress = Progress(stream=io.StringIO())

    artifact = model.obtain_model(None, settings, progress)

    assert installer_calls(bare_driver) == [" ".join(install_command(str(bare_driver), sys.prefix)[2:])]
    assert fake_build == ["onnxruntime"] and not artifact.from_cache
    assert store["stored"] == [artifact.path]
    assert progress.seconds["model_tools"] >= 0
    shown = progress.stream.getvalue().splitlines()
    assert shown[0].startswith("  installing the model tools (tensorflow-cpu==") and "done in" in shown[-1]
    assert "    2026-01-01T00:00:00Z [orchard-bootstrap] adding the packages of model.txt" in shown  # relayed

    again = model.obtain_model(None, settings, progress)  # now in the local cache: nothing installed again
    assert again.from_cache and len(installer_calls(bare_driver)) == 1


def test_a_failed_install_is_a_clear_error_and_builds_nothing(bare_driver, store, tmp_path, monkeypatch):
    monkeypatch.setenv("STUB_FAIL", "1")
    monkeypatch.setattr(model, "build_keras_model", never("building the model"))

    with pytest.raises(ModelToolsError) as failed:
        model.obtain_model(None, settings_for(tmp_path, bare_driver), Progress(enabled=False))

    assert str(failed.value) == (f"installing the model tools from {bare_driver} into {sys.prefix} failed (exit 1): "
                                 "error: No solution found")


def test_without_a_staged_installer_the_error_names_the_folder(bare_driver, store, tmp_path):
    Path(staged_path(BOOTSTRAP_SCRIPT, str(bare_driver))).unlink()
    with pytest.raises(ModelToolsError, match=f"no installer at {bare_driver}/install.sh .*--stage-model-tools"):
        model.obtain_model(None, settings_for(tmp_path, bare_driver), Progress(enabled=False))


def test_a_model_is_never_built_by_tools_other_than_the_pinned(store, fake_build, tmp_path, monkeypatch):
    pinned = model_tools().pins["tensorflow-cpu"]
    real_version = metadata.version
    monkeypatch.setattr(metadata, "version",
                        lambda name: "0.0.1" if normalized(name) == "tensorflow-cpu" else real_version(name))

    with pytest.raises(ModelToolsError) as refused:
        model.obtain_model(None, settings_for(tmp_path, None), Progress(enabled=False))

    assert f"the model tools are not those pinned in {model_tools().source}: tensorflow-cpu 0.0.1 (pinned {pinned})" \
        in str(refused.value)
    assert "install them from this checkout's pins" in str(refused.value) and fake_build == []


def test_locally_missing_tools_are_an_error_not_an_install(bare_driver, store, fake_build, tmp_path):
    with pytest.raises(ModelToolsError, match="tensorflow-cpu not installed .*install them from this checkout's pins"):
        model.obtain_model(None, settings_for(tmp_path, None), Progress(enabled=False))
    assert installer_calls(bare_driver) == [] and fake_build == []


def test_the_pins_are_read_strictly(tmp_path):
    assert parse_pins("# the model tools\nTensorFlow_CPU==2.20.0  # CPU only\n\nonnx==1.19.1\n", "m.txt") == {
        "tensorflow-cpu": "2.20.0", "onnx": "1.19.1"}
    with pytest.raises(ModelToolsError, match=r"m.txt, line 2: 'keras>=3' is not a pin \(name==version\)"):
        parse_pins("onnx==1.19.1\nkeras>=3\n", "m.txt")
    with pytest.raises(ModelToolsError, match=f"cannot read the model tools' pins {tmp_path}/model.txt"):
        model_tools(str(tmp_path))


def test_the_offline_harness_runs_the_step_without_the_node_folder():
    """The EMR step names the primary's staging folder; the offline harness, which plays the step on this machine
    where the model tools are installed, leaves it out, as every local run does."""
    given = ["s3://o/m.json", "--output", "s3://o/run/", "--model-store", "s3://a/models/"]
    step = feature_step("s3://a/code/v/", given)["HadoopJarStep"]["Args"]
    assert "--model-tools" in job_arguments(step)
    assert without_node_options(job_arguments(step)) == given
