"""Publishing the job's files at deploy time: complete, importable, versioned by content."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile

import boto3

from aws_deployment import ARTIFACTS_BUCKET
from orchard_pipeline.artifacts import collect_artifacts, content_version
from publish_artifacts import app


def keys_under(prefix: str) -> set[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS_BUCKET, Prefix=prefix)
    return {item["Key"].removeprefix(prefix) for item in listing.get("Contents", [])}


def test_the_real_bundle_is_published_under_its_content_version(aws, lambda_context):
    event = {"RequestType": "Create", "ResourceProperties": {"Bucket": ARTIFACTS_BUCKET}}

    uri = app.on_deploy(event, lambda_context)

    version = content_version(collect_artifacts(app.BUNDLE))
    assert uri == f"s3://{ARTIFACTS_BUCKET}/code/{version}/"
    assert app.helper.Data["ArtifactsUri"] == uri
    assert keys_under(f"code/{version}/") == {"orchard_features.zip", "run_job.py", "bootstrap/install.sh",
                                              "requirements/job.txt", "requirements/model.txt",
                                              "requirements/constraints.txt"}


def test_the_published_archive_runs_the_job_entry_point(tmp_path):
    archive = collect_artifacts(app.BUNDLE)["orchard_features.zip"]
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert "orchard_features/schemas/manifest-v1.schema.json" in names
    assert not [name for name in names if name.endswith(".pyc")]
    (tmp_path / "orchard_features.zip").write_bytes(archive)
    # Imported from the archive alone, as spark-submit --py-files does on the nodes.
    code = "import orchard_features.manifest as m; print(m.manifest_schema()['title'])"
    result = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, 'orchard_features.zip'); {code}"],
                            cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "Orchard run manifest, version 1"


def test_version_changes_with_any_published_byte_and_only_then(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(app.BUNDLE, bundle, symlinks=False, ignore=shutil.ignore_patterns("__pycache__"))
    before = content_version(collect_artifacts(bundle))
    (bundle / "orchard_features" / "__pycache__").mkdir(exist_ok=True)
    (bundle / "orchard_features" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    (bundle / "requirements" / "dev.txt").write_text("not published\n")
    assert content_version(collect_artifacts(bundle)) == before

    (bundle / "bootstrap" / "install.sh").write_text((bundle / "bootstrap" / "install.sh").read_text() + "\n# changed\n")
    assert content_version(collect_artifacts(bundle)) != before


def test_publishing_twice_gives_the_same_prefix(aws):
    assert app.publish_artifacts(bucket=ARTIFACTS_BUCKET) == app.publish_artifacts(bucket=ARTIFACTS_BUCKET)
