#!/usr/bin/env bash
# EMR bootstrap action: the feature job's pinned Python 3.11 packages in one virtual environment
# on every node, plus the model tools (TensorFlow, tf2onnx, ...) on the primary node, where the
# driver builds the model. Runs as the hadoop user, with sudo.
#
#   install.sh --requirements s3://.../requirements/job.txt
#              --model-requirements s3://.../requirements/model.txt
#              [--constraints s3://.../requirements/constraints.txt]   every transitive pin
#              [--venv /opt/orchard/venv]
#
# Safe to rerun: the environment carries a stamp holding the hash of what it was built from (the
# requirement files, the node's role, the Python and uv versions); a rerun with the same inputs
# does nothing, a rerun with other inputs rebuilds the environment from scratch.
#
# Environment overrides (for tests): ORCHARD_ROOT (/opt/orchard), ORCHARD_PYTHON
# (/usr/bin/python3.11), ORCHARD_INSTANCE_INFO (/mnt/var/lib/info/instance.json).
set -Eeuo pipefail
umask 022  # the environment is the hadoop user's; YARN runs the Python workers as another user

ROOT="${ORCHARD_ROOT:-/opt/orchard}"
PYTHON="${ORCHARD_PYTHON:-/usr/bin/python3.11}"
INSTANCE_INFO="${ORCHARD_INSTANCE_INFO:-/mnt/var/lib/info/instance.json}"
# uv, not pip: measured on a 2-vCPU machine into a fresh environment, binary wheels, no cache,
# bytecode compiled: the job's packages in 10 s with uv against 33 s with pip, job and model
# packages (the primary) in 39 s against 86 s. uv downloads in parallel and compiles bytecode on
# every core; fetching uv itself costs about 7 s (a venv for it, one 20 MB wheel), so it pays on
# every node. Pinned, from PyPI like everything else.
UV_VERSION=0.13.8
STAMP_NAME=.orchard-bootstrap.sha256
USAGE="usage: install.sh --requirements S3_URI --model-requirements S3_URI [--constraints S3_URI] [--venv DIR]"

log() { printf '%s [orchard-bootstrap] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
fail() { log "ERROR: $*" >&2; exit 1; }
trap 'fail "line $LINENO: \"$BASH_COMMAND\" failed (exit $?)"' ERR

requirements="" model_requirements="" constraints="" venv="$ROOT/venv"
while (($#)); do
  case "$1" in
    --requirements | --model-requirements | --constraints | --venv)
      if (($# < 2)) || [[ -z "$2" || "$2" == --* ]]; then fail "$1 needs a value. $USAGE"; fi
      case "$1" in
        --requirements) requirements="$2" ;;
        --model-requirements) model_requirements="$2" ;;
        --constraints) constraints="$2" ;;
        --venv) venv="$2" ;;
      esac
      shift 2 ;;
    *) fail "unknown argument '$1'. $USAGE" ;;
  esac
done
[[ -n "$requirements" ]] || fail "missing --requirements. $USAGE"
[[ -n "$model_requirements" ]] || fail "missing --model-requirements. $USAGE"
for uri in "$requirements" "$model_requirements" ${constraints:+"$constraints"}; do
  [[ "$uri" == s3://?*/?* ]] || fail "not an s3:// object URI: '$uri'. $USAGE"
done
[[ "$venv" == /?* ]] || fail "--venv must be an absolute path, got '$venv'. $USAGE"

[[ -x "$PYTHON" ]] || fail "Python 3.11 not found at $PYTHON (EMR 7 nodes have /usr/bin/python3.11; set ORCHARD_PYTHON)"
python_version="$("$PYTHON" --version 2>&1 || true)"
[[ "$python_version" == "Python 3.11."* ]] || fail "$PYTHON is $python_version, Python 3.11 is needed (the job's pins)"

[[ -r "$INSTANCE_INFO" ]] || fail "cannot read $INSTANCE_INFO: not an EMR node? (set ORCHARD_INSTANCE_INFO)"
if grep -Eq '"isMaster"[[:space:]]*:[[:space:]]*true' "$INSTANCE_INFO"; then role=primary; else role=core; fi
log "$role node, $python_version ($PYTHON), environment $venv"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch URI NAME: copy a requirement file to $work/NAME
  aws s3 cp --only-show-errors "$1" "$work/$2" >&2 || fail "cannot fetch $1 (aws s3 cp failed)"
}
fetch "$requirements" job.txt
files=(--requirements "$work/job.txt")
if [[ "$role" == primary ]]; then
  fetch "$model_requirements" model.txt
  files+=(--requirements "$work/model.txt")
fi
if [[ -n "$constraints" ]]; then
  fetch "$constraints" constraints.txt
  files+=(--constraint "$work/constraints.txt")
else
  log "no --constraints: the packages named are pinned, their dependencies resolve to the newest compatible"
fi

# What the environment is built from, hashed: the same inputs give the same environment.
digest="$(
  {
    printf 'role=%s python=%s uv=%s\n' "$role" "$python_version" "$UV_VERSION"
    for ((i = 0; i < ${#files[@]}; i += 2)); do
      printf '%s %s\n' "${files[i]}" "$(basename "${files[i + 1]}")"
      cat "${files[i + 1]}"
    done
  } | sha256sum | cut -d' ' -f1
)"
stamp="$venv/$STAMP_NAME"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(<"$stamp")" == "$digest" ]]; then
  log "up to date (stamp $digest): nothing to do"
  exit 0
fi

writable_dir() {  # create DIR owned by this user (with sudo where the parent is root's, as /opt is)
  mkdir -p "$1" 2>/dev/null && [[ -w "$1" ]] && return
  sudo install -d -o "$(id -u)" -g "$(id -g)" "$1" || fail "cannot create $1, even with sudo"
}

uv_home="$ROOT/uv-$UV_VERSION"
uv="$uv_home/bin/uv"
if [[ ! -x "$uv" ]]; then
  log "installing uv $UV_VERSION into $uv_home"
  writable_dir "$ROOT"
  rm -rf "$uv_home"
  "$PYTHON" -m venv "$uv_home" || fail "$PYTHON -m venv $uv_home failed (is python3.11's venv module installed?)"
  "$uv_home/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --only-binary=:all: \
    "uv==$UV_VERSION" || fail "pip could not install uv==$UV_VERSION (is PyPI reachable from the node?)"
fi

if [[ -e "$venv" ]]; then
  # Only ever remove a virtual environment (a mistyped --venv must not wipe a home folder).
  [[ -f "$venv/pyvenv.cfg" ]] || fail "$venv exists and is not a virtual environment: not touching it"
  log "rebuilding $venv: its stamp does not match this node's requirements"
  rm -rf "$venv"
fi
writable_dir "$(dirname "$venv")"
log "creating $venv"
"$uv" venv --quiet --python "$PYTHON" "$venv" || fail "uv could not create $venv with $PYTHON"

log "installing the $role node's packages: ${files[*]//"$work/"/}"
started=$SECONDS
# Binary wheels only (nothing compiles from source on a billed node), no cache (one install per
# node), bytecode compiled now, on every core: YARN's user cannot write __pycache__ here, so without
# it every Python worker compiles what it imports, each time it starts (measured: importing numpy,
# pandas, pyarrow, Pillow and onnxruntime takes 5.5 s instead of 2.5 s).
"$uv" pip install --python "$venv/bin/python" --no-cache --only-binary :all: --compile-bytecode "${files[@]}" ||
  fail "installing the $role node's requirements into $venv failed (see uv's message above)"
log "installed in $((SECONDS - started)) s:"
"$uv" pip freeze --python "$venv/bin/python" | sed 's/^/  /'
printf '%s\n' "$digest" >"$stamp"
log "done in $SECONDS s (stamp $digest)"
