"""Versions of the libraries a run used, read from package metadata without importing them, or from pins."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata

# Distributions that provide one import name under several package names.
_ALTERNATIVE_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "pillow": ("pillow", "Pillow")}

RECORDED_LIBRARIES = (
    "pyspark", "numpy", "pandas", "pyarrow", "pillow", "onnxruntime", "tensorflow", "tf2onnx", "keras",
)


def installed_version(name: str) -> str | None:
    """The installed version of a library, or None when it is not installed."""
    for distribution in _ALTERNATIVE_DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def pinned_version(pins: Mapping[str, str], name: str) -> str | None:
    """The version `pins` (distribution name -> version) gives a library, under any of its distributions' names."""
    return next((pins[distribution] for distribution in _ALTERNATIVE_DISTRIBUTIONS.get(name, (name,))
                 if distribution in pins), None)


def library_versions() -> dict[str, str | None]:
    """Python's and the recorded libraries' versions on this machine (the driver)."""
    return {"python": platform.python_version(), **{name: installed_version(name) for name in RECORDED_LIBRARIES}}
