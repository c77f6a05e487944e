"""The EMR bootstrap action, run with bash against stubs: `aws` serves files from a folder standing
for S3; the Python, pip and uv stubs record their calls, and uv "installs" by listing the lines of
the requirement files it is given. No network, no EMR. It runs with the arguments the planning function gives it
(`bootstrap_actions`), its node paths moved into a folder standing for the node; and as the job runs the copy the
primary node stages, to add the model tools (`install_command`)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchard_contract.emr_step import (
    NODE_MODEL_TOOLS,
    NODE_VENV,
    PUBLISHED_FILES,
    STAGED_FILES,
    bootstrap_actions,
    staged_path,
)
from orchard_features.model_tools import install_command

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bootstrap" / "install.sh"
ARTIFACTS = "s3://artifacts/code/0123abcd/"
PREFIX = f"{ARTIFACTS}requirements"
ARGS = ["--requirements", f"{PREFIX}/job.txt"]  # the least a node needs
MODEL = f"{PREFIX}/model.txt"
WORK_FOLDER = re.compile(r"/\S*/tmp\.\w+/")  # mktemp's folder, where the node's requirement files are fetched
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[orchard-bootstrap\] ")

STUBS = {
    "aws": r"""
echo "aws $*" >> "$STUB_LOG"
source="${@: -2:1}" destination="${@: -1}"
[[ -f "$STUB_S3/${source#s3://}" ]] || { echo "fatal error: (404) $source does not exist" >&2; exit 1; }
cp "$STUB_S3/${source#s3://}" "$destination"
""",
    "python3.11": r"""
echo "python $*" >> "$STUB_LOG"
case "$1" in
  --version) echo "Python ${STUB_PYTHON_VERSION:-3.11.14}" ;;
  -m) mkdir -p "$3/bin" && cp "$STUB_DIR/pip" "$3/bin/pip" ;;
esac
""",
    "pip": r"""
echo "pip $*" >> "$STUB_LOG"
cp "$STUB_DIR/uv" "$(dirname "$0")/uv"
""",
    "uv": r"""
echo "uv $*" >> "$STUB_LOG"
if [[ "$1" == venv ]]; then
  mkdir -p "${@: -1}/bin" && cp "$STUB_DIR/python3.11" "${@: -1}/bin/python" && touch "${@: -1}/pyvenv.cfg"
  exit
fi
command="$2" && shift 2
while (($#)); do
  case "$1" in
    --python) installed="$(dirname "$2")/../installed.txt" ;;
    --requirements) [[ -z "${STUB_UV_FAIL:-}" ]] || { echo "error: No solution found" >&2; exit 1; }
                    grep -v '^#' "$2" >> "$installed" ;;
  esac
  shift
done
[[ "$command" != freeze ]] || cat "$installed"
""",
}


@dataclass
class Node:
    """A fake EMR node: its file system root, its S3 stand-in, the stubs and their call log."""

    home: Path

    @property
    def venv(self) -> Path:
        return self.home / "opt" / "venv"

    @property
    def staged(self) -> Path:
        return self.home / "opt" / "model-tools"

    def emr_args(self) -> list[str]:
        """The bootstrap action's arguments as the planning function writes them, its node paths moved here."""
        moved = {NODE_VENV: str(self.venv), NODE_MODEL_TOOLS: str(self.staged)}
        return [moved.get(arg, arg) for arg in bootstrap_actions(ARTIFACTS)[0]["ScriptBootstrapAction"]["Args"]]

    def run(self, *args: str, primary: bool = False, **environment: str) -> subprocess.CompletedProcess:
        return self.execute(["bash", str(SCRIPT), *args], primary, **environment)

    def execute(self, command: list[str], primary: bool = False, **environment: str) -> subprocess.CompletedProcess:
        info = self.home / "instance.json"
        info.write_text(f'{{"isMaster": {str(primary).lower()}, "instanceGroupId": "ig-1"}}')
        (self.home / "calls.log").write_text("")
        env = {
            "PATH": f"{self.home / 'stubs'}:{os.environ['PATH']}",
            "ORCHARD_ROOT": str(self.home / "opt"),
            "ORCHARD_PYTHON": str(self.home / "stubs" / "python3.11"),
            "ORCHARD_INSTANCE_INFO": str(info),
            "STUB_DIR": str(self.home / "stubs"),
            "STUB_S3": str(self.home / "s3"),
            "STUB_LOG": str(self.home / "calls.log"),
            **environment,
        }
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)

    def calls(self) -> list[str]:
        return (self.home / "calls.log").read_text().splitlines()

    def install_call(self) -> str:
        """uv's install call, the node's own paths written HOME and WORK (the same on any node)."""
        call = next(call for call in self.calls() if call.startswith("uv pip install"))
        return WORK_FOLDER.sub("WORK/", call).replace(str(self.home), "HOME")

    def installed(self) -> list[str]:
        return (self.venv / "installed.txt").read_text().splitlines()


def source(name: str) -> Path:
    """Where the published requirements file `name` (job.txt, model.txt, constraints.txt) is in this repository."""
    return ROOT / PUBLISHED_FILES[f"requirements/{name}"]


def pins(name: str) -> list[str]:
    return [line for line in source(name).read_text().splitlines() if line and not line.startswith("#")]


def new_node(home: Path) -> Node:
    stubs = home / "stubs"
    stubs.mkdir(parents=True)
    for name, body in STUBS.items():
        (stubs / name).write_text("#!/usr/bin/env bash\n" + body)
        (stubs / name).chmod(0o755)
    published = home / "s3" / PREFIX.removeprefix("s3://")
    published.mkdir(parents=True)
    for name in ("job.txt", "model.txt", "constraints.txt"):
        (published / name).write_text(source(name).read_text())
    return Node(home)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return new_node(tmp_path)


def test_a_core_node_gets_the_job_packages_only(node):
    finished = node.run(*node.emr_args())
    assert finished.returncode == 0, finished.stderr
    assert node.installed() == pins("job.txt")
    assert not any("model.txt" in call for call in node.calls())  # not even fetched
    assert not node.staged.exists()
    install = node.install_call()
    assert "--only-binary :all:" in install and "--no-cache" in install and "--compile-bytecode" in install
    assert re.search(r"--constraint \S+/constraints\.txt", install)
    assert (node.venv / ".orchard-bootstrap.sha256").read_text().strip()
    lines = finished.stdout.splitlines()
    assert all(LOG_LINE.match(line) for line in lines if not line.startswith("  "))
    assert "core node" in lines[0] and "  numpy==1.26.4" in lines and "done in" in lines[-1]


def test_the_primary_installs_what_a_core_node_does_and_stages_the_model_tools_for_the_job(tmp_path):
    core, primary = new_node(tmp_path / "core"), new_node(tmp_path / "primary")
    assert core.run(*core.emr_args()).returncode == 0
    finished = primary.run(*primary.emr_args(), primary=True)
    assert finished.returncode == 0, finished.stderr

    assert primary.installed() == core.installed() == pins("job.txt")  # no model tool: not a package more
    assert primary.install_call() == core.install_call()
    # staged where the job looks for them (orchard_contract.emr_step), as published: the installer, pins, constraints
    assert sorted(path.name for path in primary.staged.iterdir()) == sorted(
        Path(staged_path(name, str(primary.staged))).name for name in STAGED_FILES)
    for name in STAGED_FILES:
        assert Path(staged_path(name, str(primary.staged))).read_bytes() == (ROOT / PUBLISHED_FILES[name]).read_bytes()
    assert "primary node" in finished.stdout and f"in {primary.staged}" in finished.stdout


def test_the_job_adds_the_model_tools_to_the_primarys_environment_with_the_staged_copy(node):
    assert node.run(*node.emr_args(), primary=True).returncode == 0
    stamp = (node.venv / ".orchard-bootstrap.sha256").read_text()

    added = node.execute(install_command(str(node.staged), str(node.venv)), primary=True)
    assert added.returncode == 0, added.stderr
    assert node.installed() == pins("job.txt") + pins("model.txt")
    install = node.install_call()
    assert "--only-binary :all:" in install and "--no-cache" in install and "--compile-bytecode" in install
    assert "--constraint HOME/opt/model-tools/constraints.txt" in install  # pinned as the bootstrap's own install
    assert [call.split()[:2] for call in node.calls()] == [["python", "--version"], ["uv", "pip"], ["uv", "pip"]]
    assert (node.venv / ".orchard-bootstrap.sha256").read_text() == stamp  # the environment is still the bootstrap's
    assert "adding the packages of model.txt to" in added.stdout and "installed in" in added.stdout


def test_adding_fails_clearly_without_an_environment_or_when_uv_does(node):
    assert node.run(*node.emr_args(), primary=True).returncode == 0
    nowhere = node.execute(install_command(str(node.staged), str(node.home / "nowhere")))
    assert nowhere.returncode != 0
    assert "nowhere is not a virtual environment: nothing to add to" in nowhere.stderr

    failed = node.execute(install_command(str(node.staged), str(node.venv)), STUB_UV_FAIL="1")
    assert failed.returncode != 0
    assert "error: No solution found" in failed.stderr
    assert f"installing the packages of model.txt into {node.venv} failed" in failed.stderr


def test_a_rerun_with_the_same_files_does_nothing_and_a_changed_file_rebuilds(node):
    assert node.run(*ARGS).returncode == 0
    again = node.run(*ARGS)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
    assert [call.split()[0] for call in node.calls()] == ["python", "aws"]  # version check, fetch: no install

    job = node.home / "s3" / PREFIX.removeprefix("s3://") / "job.txt"
    job.write_text("numpy==1.26.4\n")
    changed = node.run(*ARGS)
    assert changed.returncode == 0, changed.stderr
    assert "rebuilding" in changed.stdout and node.installed() == ["numpy==1.26.4"]
    assert not any(call.startswith(("python -m venv", "pip")) for call in node.calls())  # uv kept


def test_a_rerun_on_the_primary_stages_again_and_installs_nothing(node):
    assert node.run(*node.emr_args(), primary=True).returncode == 0
    (node.staged / "model.txt").unlink()
    again = node.run(*node.emr_args(), primary=True)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout and (node.staged / "model.txt").exists()
    assert not any(call.startswith("uv") for call in node.calls())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-requirements", MODEL], "missing --requirements"),
        ([*ARGS[:1]], "--requirements needs a value"),
        ([*ARGS, "--model-requirements", MODEL], "--model-requirements and --stage-model-tools go together"),
        ([*ARGS, "--stage-model-tools", "/opt/stage"], "--model-requirements and --stage-model-tools go together"),
        ([*ARGS, "--force"], "unknown argument '--force'"),
        (["--requirements", "job.txt"], "not an s3:// object URI: 'job.txt'"),
        ([*ARGS, "--model-requirements", "model.txt", "--stage-model-tools", "/opt/stage"],
         "not an s3:// object URI: 'model.txt'"),
        ([*ARGS, "--venv", "venv"], "--venv must be an absolute path"),
        ([*ARGS, "--model-requirements", MODEL, "--stage-model-tools", "stage"],
         "--stage-model-tools must be an absolute path"),
        (["--add", "--requirements", "/nowhere/model.txt"], "cannot read /nowhere/model.txt"),
        (["--add", "--requirements", "/nowhere/model.txt", "--stage-model-tools", "/opt/stage"],
         "--add takes no --model-requirements or --stage-model-tools"),
    ],
)
def test_bad_arguments_fail_with_the_usage(node, args, message):
    finished = node.run(*args)
    assert finished.returncode != 0
    assert message in finished.stderr and "usage: install.sh" in finished.stderr
    assert node.calls() == []


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"ORCHARD_PYTHON": "/nowhere/python3.11"}, "Python 3.11 not found at /nowhere/python3.11"),
        ({"STUB_PYTHON_VERSION": "3.9.23"}, "is Python 3.9.23, Python 3.11 is needed"),
        ({"ORCHARD_INSTANCE_INFO": "/nowhere/instance.json"}, "cannot read /nowhere/instance.json: not an EMR node?"),
    ],
)
def test_a_node_without_python_311_fails_clearly(node, environment, message):
    finished = node.run(*ARGS, **environment)
    assert finished.returncode != 0
    assert message in finished.stderr and LOG_LINE.match(finished.stderr.splitlines()[-1])


def test_a_failed_fetch_or_install_fails_loudly_and_leaves_no_stamp(node):
    missing = node.run("--requirements", f"{PREFIX}/nope.txt")
    assert missing.returncode != 0 and f"cannot fetch {PREFIX}/nope.txt" in missing.stderr

    failed = node.run(*ARGS, STUB_UV_FAIL="1")
    assert failed.returncode != 0
    assert "error: No solution found" in failed.stderr
    assert "installing the job's packages into" in failed.stderr
    assert not (node.venv / ".orchard-bootstrap.sha256").exists()  # so the next run installs again


def test_a_folder_that_is_not_a_virtual_environment_is_never_removed(node):
    mine = node.home / "home" / "hadoop"
    (mine / "notes").mkdir(parents=True)
    finished = node.run(*ARGS, "--venv", str(mine))
    assert finished.returncode != 0
    assert "is not a virtual environment: not touching it" in finished.stderr
    assert (mine / "notes").is_dir()
