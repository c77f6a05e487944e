"""Publishing the job's files at deploy time: complete, importable, versioned by content."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest

from orchard_contract.emr_step import STAGED_FILES
from orchard_functions.artifacts import collect_artifacts, content_version
from orchard_local.account import ARTIFACTS_BUCKET
from orchard_local.template import ROOT
from publish_artifacts import app

FUNCTION_MAKEFILE = ROOT / "lambdas" / "publish_artifacts" / "Makefile"


@pytest.fixture(scope="module")
def built_payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The payload as `sam build` lays it out beside the handler (the Makefile's own target, no download)."""
    artifacts = tmp_path_factory.mktemp("function")
    subprocess.run(["make", "--silent", "--makefile", str(FUNCTION_MAKEFILE), "payload", f"ARTIFACTS_DIR={artifacts}"],
                   check=True, capture_output=True, text=True)
    return artifacts / "payload"


@pytest.fixture(autouse=True)
def published_from_the_build(built_payload: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler publishes the built payload, as in the deployed function."""
    monkeypatch.setattr(app, "BUNDLE", built_payload)


def keys_under(prefix: str) -> set[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=prefix)
    return {item["Key"].removeprefix(prefix) for item in listing.get("Contents", [])}


def test_the_real_bundle_is_published_under_its_content_version(aws, lambda_context):
    event = {"RequestType": "Create", "ResourceProperties": {"Bucket": ARTIFACTS_BUCKET}}

    uri = app.on_deploy(event, lambda_context)

    version = content_version(collect_artifacts(app.BUNDLE))
    assert uri == f"s3://{ARTIFACTS_BUCKET}/code/{version}/"
    assert app.helper.Data["ArtifactsUri"] == uri
    assert keys_under(f"code/{version}/") == {"orchard_job.zip", "run_job.py", "bootstrap/install.sh",
                                              "requirements/job.txt", "requirements/model.txt",
                                              "requirements/constraints.txt"}
    assert set(STAGED_FILES) <= keys_under(f"code/{version}/")  # what the primary node stages for the job


def test_the_published_archive_runs_the_job_entry_point(tmp_path):
    archive = collect_artifacts(app.BUNDLE)["orchard_job.zip"]
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert "orchard_contract/schemas/manifest-v1.schema.json" in names
    assert "orchard_features/cli.py" in names
    assert not [name for name in names if name.endswith(".pyc")]
    assert {name.split("/")[0] for name in names} == {"orchard_features", "orchard_contract"}  # the job, nothing else
    (tmp_path / "orchard_job.zip").write_bytes(archive)
    # Imported from the archive alone, as spark-submit --py-files does on the nodes (not from an editable install).
    code = ("import orchard_contract.manifest as m; import orchard_features.cli as c; "
            "print(m.manifest_schema()['title'], m.__file__, c.__file__, sep='\\n')")
    result = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, 'orchard_job.zip'); {code}"],
                            cwd=tmp_path, capture_output=True, text=True, check=True)
    title, *modules = result.stdout.splitlines()
    assert title == "Orchard run manifest, version 1"
    assert modules == ["orchard_job.zip/orchard_contract/manifest.py", "orchard_job.zip/orchard_features/cli.py"]


def test_version_changes_with_any_published_byte_and_only_then(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(app.BUNDLE, bundle, symlinks=False, ignore=shutil.ignore_patterns("__pycache__"))
    before = content_version(collect_artifacts(bundle))
    (bundle / "spark" / "orchard_features" / "__pycache__").mkdir(exist_ok=True)
    (bundle / "spark" / "orchard_features" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    (bundle / "requirements" / "dev.txt").write_text("not published\n")
    assert content_version(collect_artifacts(bundle)) == before

    (bundle / "bootstrap" / "install.sh").write_text((bundle / "bootstrap" / "install.sh").read_text() + "\n# changed\n")
    assert content_version(collect_artifacts(bundle)) != before


def test_publishing_twice_gives_the_same_prefix(aws):
    assert (app.publish_artifacts(bucket=ARTIFACTS_BUCKET, bundle=app.BUNDLE)
            == app.publish_artifacts(bucket=ARTIFACTS_BUCKET, bundle=app.BUNDLE))
