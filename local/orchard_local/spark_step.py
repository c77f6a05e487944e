"""An EMR step that really runs: the feature job in local Spark on what the step names in (moto's) S3.

The step's spark-submit arguments name s3:// locations: the resolved manifest, its inputs, the
output prefix, the model store and the feature store. Spark in local mode cannot read moto's S3, so they are
mirrored into a local folder (`<mirror>/<bucket>/<key>`), the job runs on the mirror, and what it wrote is
copied back to S3, where the workflow's next states read it, all with the S3 client of the cluster's nodes. The
feature store is copied back whatever happened, as the job on EMR leaves in it what it completed, and as the job
writes it: new files only, each with `If-None-Match: *`, which the nodes' role requires there.
What the job tells its user (its progress, and how it failed, as its command ends: orchard_features.cli) is the
step's stderr, which EMR archives next to the cluster's logs (orchard_local.emr_sync), and also shown as it goes.
No bootstrap action runs here: the step's `--model-tools`, the primary node's folder of what the job would install
the model tools from, is left out, as on any local run (the model tools are installed with the job, the pins are this
checkout's).
"""

from __future__ import annotations

import io
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from orchard_contract.errors import OrchardError
from orchard_features.feature_store import COMMITS
from orchard_features.job import run
from orchard_features.progress import Progress
from orchard_features.settings import PROG, parse_arguments, settings_from_arguments
from orchard_functions.s3uri import split_s3_uri
from orchard_local.emr_sync import StepResult

SUBMIT_OPTIONS_WITH_VALUES = {"--deploy-mode", "--py-files", "--conf", "--master"}
NODE_OPTIONS = {"--model-tools"}  # the job's options naming a folder of the EMR node, each with its value


@dataclass
class SparkStep:
    """Runs the job of each step it is given with `spark`, mirroring S3 under `mirror`."""

    spark: Any
    mirror: Path
    progress: Progress | None = None
    adjust_settings: Callable[[Any], Any] = lambda settings: settings

    def __call__(self, step: dict[str, Any], node: boto3.Session) -> StepResult:
        stderr = Echoed(self.progress.stream if self.progress else None)
        try:
            self.run(without_node_options(job_arguments(step["HadoopJarStep"]["Args"])), node.client("s3"),
                     Progress(stream=stderr, enabled=self.progress is None or self.progress.enabled))
        except Exception as error:  # the step fails as EMR reports it: state and reason
            print(f"{PROG}: error: {error}" if isinstance(error, OrchardError) else traceback.format_exc(),
                  file=stderr)
            return StepResult("FAILED", f"{type(error).__name__}: {error}", stderr.getvalue())
        return StepResult("COMPLETED", stderr=stderr.getvalue())

    def local(self, uri: str) -> Path:
        bucket, key = split_s3_uri(uri)
        return self.mirror / bucket / key

    def run(self, arguments: list[str], s3: Any, progress: Progress) -> None:
        """Mirror the manifest, its inputs and the two stores; run the job; copy outputs, models and features back."""
        manifest_uri, output_uri = arguments[0], arguments[arguments.index("--output") + 1]
        store_uri = arguments[arguments.index("--model-store") + 1]
        features_uri = arguments[arguments.index("--feature-store") + 1]
        local_manifest = self.mirror.parent / "step-manifest.json"  # inputs rewritten: kept out of the mirror
        manifest = json.loads(download(s3, manifest_uri, local_manifest).read_text())
        for uri in manifest["inputs"]:
            download_prefix(s3, uri, self.local(uri))
        local_inputs = [str(self.local(uri)) for uri in manifest["inputs"]]
        local_manifest.write_text(json.dumps(manifest | {"inputs": local_inputs}))
        download_prefix(s3, store_uri, self.local(store_uri))
        stored = download_prefix(s3, features_uri, self.local(features_uri))
        local_arguments = [str(local_manifest)] + [str(self.local(a)) if a.startswith("s3://") else a
                                                   for a in arguments[1:]]
        settings = settings_from_arguments(parse_arguments(local_arguments), lambda path: Path(path).read_text())
        try:
            run(self.spark, self.adjust_settings(settings), progress)
        finally:
            upload_new_files(s3, self.local(features_uri), features_uri, stored)
        upload_folder(s3, self.local(output_uri), output_uri)
        upload_folder(s3, self.local(store_uri), store_uri)


class Echoed(io.StringIO):
    """A step's stderr, kept as written (a log file, no terminal: progress comes line by line) and shown on `shown`."""

    def __init__(self, shown: TextIO | None) -> None:
        super().__init__()
        self.shown = shown

    def write(self, text: str) -> int:
        if self.shown:
            self.shown.write(text)
        return super().write(text)

    def flush(self) -> None:
        if self.shown:
            self.shown.flush()


def job_arguments(submit_arguments: list[str]) -> list[str]:
    """The job's own arguments: what follows the script in `spark-submit [options] script args...`."""
    index = 1
    while submit_arguments[index].startswith("--"):
        index += 2 if submit_arguments[index] in SUBMIT_OPTIONS_WITH_VALUES else 1
    return submit_arguments[index + 1:]


def without_node_options(arguments: list[str]) -> list[str]:
    """The job's arguments without those naming a folder of the EMR node (NODE_OPTIONS) and their values."""
    kept, remaining = [], iter(arguments)
    for argument in remaining:
        if argument in NODE_OPTIONS:
            next(remaining, None)  # its value
        else:
            kept.append(argument)
    return kept


def download(s3: Any, uri: str, target: Path) -> Path:
    bucket, key = split_s3_uri(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, str(target))
    return target


def download_prefix(s3: Any, uri: str, target: Path) -> set[Path]:
    """Every object under the prefix `uri`, into `target`, keys below the prefix kept as paths; returns the files."""
    bucket, prefix = split_s3_uri(uri.rstrip("/") + "/")
    target.mkdir(parents=True, exist_ok=True)
    downloaded = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            destination = target / item["Key"][len(prefix):]
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(destination))
            downloaded.add(destination)
    return downloaded


def upload_new_files(s3: Any, folder: Path, uri: str, existing: set[Path]) -> None:
    """The files under `folder` that are not in `existing` to the prefix `uri`, paths kept as keys, each created
    with PutObject and `If-None-Match: *` (never replacing an object), in the order of their paths: a feature
    store's segments before their commits."""
    bucket, prefix = split_s3_uri(uri.rstrip("/") + "/")
    new = [path for path in folder.rglob("*") if path.is_file() and path not in existing]
    for path in sorted(new, key=lambda path: (path.parent.name == COMMITS, path.as_posix())):
        s3.put_object(Bucket=bucket, Key=prefix + path.relative_to(folder).as_posix(), Body=path.read_bytes(),
                      IfNoneMatch="*")


def upload_folder(s3: Any, folder: Path, uri: str) -> None:
    """Every file under `folder` to the prefix `uri`, paths kept as keys."""
    bucket, prefix = split_s3_uri(uri.rstrip("/") + "/")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())
