"""The command line, run in-process without Spark: input or data the job cannot use ends it with one line on stderr
and status 2, as argparse ends a usage error; anything else keeps its traceback; Spark is stopped either way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchard_contract.manifest import InvalidManifest
from orchard_features import cli, storage
from orchard_features.job import NoImagesError
from orchard_features.model import ModelError
from orchard_features.pca import PcaError
from orchard_features.sources import InputError


class FakeSpark:
    """Stands for the session: the job's errors come before anything would need it, but not before it starts."""

    stopped = False

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake_spark(monkeypatch: pytest.MonkeyPatch) -> FakeSpark:
    session = FakeSpark()
    monkeypatch.setattr(cli, "spark_session", lambda **_settings: session)
    monkeypatch.setattr(storage, "read_text", lambda _spark, location: Path(location).read_text())
    return session


def test_an_invalid_manifest_is_reported_in_one_message_with_status_2(fake_spark, tmp_path, capsys):
    manifest = tmp_path / "bad.json"
    manifest.write_text(json.dumps({"manifest_version": 1, "inputs": ["images/"],
                                    "select": {"max_images": -1}, "job": {"batch_size": 0}}))
    status = cli.main([str(manifest), "--output", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 2 and fake_spark.stopped
    assert captured.err == (f"orchard-features: error: {manifest}: invalid manifest:\n"
                            "  - $.job.batch_size: 0 is less than the minimum of 1\n"
                            "  - $.select.max_images: -1 is less than the minimum of 1\n")
    assert captured.out == ""


@pytest.mark.parametrize("error", [
    InvalidManifest("m.json: not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    InputError("input not found: /no/such/folder"),
    NoImagesError("no image selected: 4 files found under /data, none kept by the selection"),
    PcaError("pca_components=30 is more than the 20 images featurized"),
    ModelError("weights file not found: /nowhere/weights.h5"),
])
def test_every_error_in_the_input_or_data_is_one_line_with_status_2(fake_spark, monkeypatch, capsys, error):
    def fail(*_arguments):
        raise error

    monkeypatch.setattr(cli, "run", fail)
    assert cli.main(["/data", "--output", "/out"]) == 2 and fake_spark.stopped
    assert capsys.readouterr().err == f"orchard-features: error: {error}\n"


def test_an_unexpected_error_keeps_its_traceback(fake_spark, monkeypatch, capsys):
    def fail(*_arguments):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "run", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["/data", "--output", "/out"])
    assert fake_spark.stopped and capsys.readouterr().err == ""


def test_a_refused_flag_ends_the_job_before_spark_starts(monkeypatch, capsys):
    monkeypatch.setattr(cli, "spark_session", lambda **_settings: pytest.fail("Spark started"))
    with pytest.raises(SystemExit) as exited:
        cli.main(["/data", "--output", "/out", "--batch-size", "0"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("orchard-features: error: argument --batch-size: ")
