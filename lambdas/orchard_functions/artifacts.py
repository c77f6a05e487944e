"""The files an EMR run needs, as published by `sam deploy`: named by a hash of their content.

A bundle is a folder laid out as this repository is (`lambdas/publish_artifacts/Makefile` copies spark/, bootstrap/
and the constraints into the function's `payload/`): the repository itself is one. Which files are published, and
under what names, is the EMR step's definition (`orchard_contract.emr_step`).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from orchard_contract.emr_step import JOB_ARCHIVE, JOB_PACKAGES, PACKAGES_FOLDER, PUBLISHED_FILES

# A fixed timestamp, so the same sources always give the same archive bytes (and the same version).
ZIP_TIMESTAMP = (2020, 1, 1, 0, 0, 0)


def package_archive(bundle: Path, packages: tuple[str, ...] = JOB_PACKAGES) -> bytes:
    """The job's packages as a zip for `spark-submit --py-files`: sources and schemas, no bytecode."""
    root = bundle / PACKAGES_FOLDER
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(path for package in packages for path in (root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                entry = zipfile.ZipInfo(path.relative_to(root).as_posix(), ZIP_TIMESTAMP)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = 0o644 << 16
                archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def collect_artifacts(bundle: Path) -> dict[str, bytes]:
    """Every published file by its name under the artifacts prefix."""
    artifacts = {name: (bundle / source).read_bytes() for name, source in PUBLISHED_FILES.items()}
    artifacts[JOB_ARCHIVE] = package_archive(bundle)
    return artifacts


def content_version(artifacts: dict[str, bytes]) -> str:
    """A short hash of the names and contents: changes whenever any published byte does."""
    digest = hashlib.sha256()
    for name in sorted(artifacts):
        digest.update(name.encode() + b"\0" + hashlib.sha256(artifacts[name]).digest())
    return digest.hexdigest()[:16]
