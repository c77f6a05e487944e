"""The model tools (TensorFlow, Keras, tf2onnx, ONNX: `spark/requirements-model.txt`), which only building the model
needs: their pins, and their installation by the job on EMR's primary node when it must build the model.

The pins are the one definition of the tools' versions: they key the converted model (`model.cache_key`) whether or
not the tools are installed, so that a driver without them finds the model in the model store, and a model is only
built by the tools they name. On EMR the bootstrap action installs no model tool: it stages its own script, the pins
and the constraints on the primary node (`orchard_contract.emr_step.NODE_MODEL_TOOLS`, given to the job as
`--model-tools`), and the job runs that script, which installs them as the bootstrap installs the job's packages, the
rare time it must build the model. Locally the tools are installed with the job, and the pins are this checkout's.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchard_contract.emr_step import BOOTSTRAP_SCRIPT, CONSTRAINTS, MODEL_REQUIREMENTS, PUBLISHED_FILES, staged_path
from orchard_contract.errors import OrchardError
from orchard_features.progress import Progress
from orchard_features.versions import installed_version

# The checkout the job runs from locally (spark/orchard_features/ is two levels below it), where the pins are kept.
CHECKOUT = Path(__file__).resolve().parents[2]
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)$")


class ModelToolsError(OrchardError):
    """The model tools cannot be read, installed, or are not the ones pinned."""


@dataclass(frozen=True)
class ModelTools:
    """The model tools' pins (distribution name -> version) read from `source`, and the folder the bootstrap action
    staged their installer in (EMR's primary node), None where they are installed with the job."""

    pins: Mapping[str, str]
    source: str
    staged: str | None = None


def normalized(name: str) -> str:
    """A distribution's name as the pins and package metadata compare it (PEP 503): `TensorFlow_CPU` is
    `tensorflow-cpu`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str, source: str) -> dict[str, str]:
    """`name==version` lines (comments and blank lines skipped) as {name: version}; anything else is an error
    naming the file and line."""
    pins = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pin = _PIN.match(line)
        if pin is None:
            raise ModelToolsError(f"{source}, line {number}: {line!r} is not a pin (name==version)")
        pins[normalized(pin["name"])] = pin["version"]
    return pins


def model_tools(staged: str | None = None) -> ModelTools:
    """The model tools of this run: their pins as the bootstrap action staged them in `staged` (EMR's primary
    node), else as this checkout keeps them."""
    source = staged_path(MODEL_REQUIREMENTS, staged) if staged else str(CHECKOUT / PUBLISHED_FILES[MODEL_REQUIREMENTS])
    try:
        text = Path(source).read_text()
    except OSError as error:
        where = (f"was the cluster bootstrapped with --stage-model-tools {staged}?" if staged
                 else "on EMR, give --model-tools: the folder the bootstrap action staged them in")
        raise ModelToolsError(f"cannot read the model tools' pins {source} ({error.strerror}): {where}") from None
    return ModelTools(pins=parse_pins(text, source), source=source, staged=staged)


def version_differences(tools: ModelTools) -> dict[str, tuple[str, str | None]]:
    """Each model tool whose installed version is not its pin: {name: (pinned, installed or None)}."""
    installed = {name: installed_version(name) for name in tools.pins}
    return {name: (pinned, installed[name]) for name, pinned in tools.pins.items() if installed[name] != pinned}


def check_installed(tools: ModelTools) -> None:
    """Refuse to build a model with tools other than the pinned ones: the model's key names the pins."""
    if differences := version_differences(tools):
        found = ", ".join(f"{name} {installed or 'not installed'} (pinned {pinned})"
                          for name, (pinned, installed) in differences.items())
        remedy = (f"the install from {tools.staged} did not give them" if tools.staged else
                  "install them from this checkout's pins (make .venv/.installed, or pip install -e '.[model]')")
        raise ModelToolsError(f"the model tools are not those pinned in {tools.source}: {found}; the converted "
                              f"model's key would name versions it was not built with: {remedy}")


def install_command(staged: str, venv: str) -> list[str]:
    """The bootstrap script staged in `staged` adding the pinned model tools to the environment `venv`, with the
    constraints when they were staged too (as the bootstrap installed the job's packages)."""
    constraints = staged_path(CONSTRAINTS, staged)
    constrained = ["--constraints", constraints] if os.path.exists(constraints) else []
    return ["bash", staged_path(BOOTSTRAP_SCRIPT, staged), "--add",
            "--requirements", staged_path(MODEL_REQUIREMENTS, staged), *constrained, "--venv", venv]


def ensure_installed(tools: ModelTools, venv: str, progress: Progress) -> None:
    """Install the pinned model tools into `venv` (this process's environment) if they were staged (EMR's primary
    node) and are not installed at their pins, with the staged bootstrap script: timed as the run's `model_tools`
    phase, its log relayed, a failure a ModelToolsError. Locally, nothing to do: they are installed with the job."""
    if tools.staged is None or not version_differences(tools):
        return
    command = install_command(tools.staged, venv)
    if not os.path.isfile(command[1]):
        raise ModelToolsError(f"cannot install the model tools: no installer at {command[1]} (was the cluster "
                              f"bootstrapped with --stage-model-tools {tools.staged}?)")
    pins = ", ".join(f"{name}=={version}" for name, version in tools.pins.items())
    with progress.phase("model_tools", f"  installing the model tools ({pins})"):
        finished = subprocess.run(command, capture_output=True, text=True)
        for line in (finished.stdout + finished.stderr).splitlines():
            progress.say(f"    {line}")
        if finished.returncode != 0:
            last = (finished.stderr.strip() or finished.stdout.strip() or "no output").splitlines()[-1]
            raise ModelToolsError(f"installing the model tools from {tools.staged} into {venv} failed "
                                  f"(exit {finished.returncode}): {last}")
    importlib.invalidate_caches()  # the import system's listings of site-packages predate the install
