#!/usr/bin/env bash
# EMR bootstrap action: the feature job's pinned Python 3.11 packages in one virtual environment, the same on every
# node. The model tools (TensorFlow, tf2onnx, ...), which only building the model needs, are not installed: on the
# primary node, where the driver runs, this script stages itself, their pins and the constraints, and the job installs
# them with that copy (--add) in the rare run that must build the model (the model store does not hold it).
# Runs as the hadoop user, with sudo.
#
#   install.sh --requirements s3://.../requirements/job.txt
#              [--constraints s3://.../requirements/constraints.txt]   every transitive pin
#              [--venv /opt/orchard/venv]
#              [--model-requirements s3://.../requirements/model.txt --stage-model-tools DIR]
#                  on the primary node: model.txt, the constraints and this script copied into DIR, each under its
#                  own file name, for the job
#
#   install.sh --add --requirements FILE [--constraints FILE] [--venv DIR]
#       FILE's packages added to the existing environment (no rebuild, no stamp), as the bootstrap installs its own:
#       how the job installs the model tools from what was staged.
#
# Safe to rerun: the environment carries a stamp holding the hash of what it was built from (the requirement files,
# the Python and uv versions); a rerun with the same inputs installs nothing (it stages again), a rerun with other
# inputs rebuilds the environment from scratch.
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
# packages in 39 s against 86 s. uv downloads in parallel and compiles bytecode on
# every core; fetching uv itself costs about 7 s (a venv for it, one 20 MB wheel), so it pays on
# every node. Pinned, from PyPI like everything else.
UV_VERSION=0.13.8
STAMP_NAME=.orchard-bootstrap.sha256
USAGE="usage: install.sh --requirements S3_URI [--constraints S3_URI] [--venv DIR] \
[--model-requirements S3_URI --stage-model-tools DIR] | install.sh --add --requirements FILE [--constraints FILE] \
[--venv DIR]"

log() { printf '%s [orchard-bootstrap] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
fail() { log "ERROR: $*" >&2; exit 1; }
trap 'fail "line $LINENO: \"$BASH_COMMAND\" failed (exit $?)"' ERR

add="" requirements="" model_requirements="" constraints="" venv="$ROOT/venv" stage=""
while (($#)); do
  case "$1" in
    --add) add=1; shift ;;
    --requirements | --model-requirements | --constraints | --venv | --stage-model-tools)
      if (($# < 2)) || [[ -z "$2" || "$2" == --* ]]; then fail "$1 needs a value. $USAGE"; fi
      case "$1" in
        --requirements) requirements="$2" ;;
        --model-requirements) model_requirements="$2" ;;
        --constraints) constraints="$2" ;;
        --venv) venv="$2" ;;
        --stage-model-tools) stage="$2" ;;
      esac
      shift 2 ;;
    *) fail "unknown argument '$1'. $USAGE" ;;
  esac
done
[[ -n "$requirements" ]] || fail "missing --requirements. $USAGE"
if [[ -n "$add" ]]; then
  [[ -z "$model_requirements$stage" ]] || fail "--add takes no --model-requirements or --stage-model-tools. $USAGE"
  for file in "$requirements" ${constraints:+"$constraints"}; do
    [[ -f "$file" && -r "$file" ]] || fail "cannot read $file: with --add, requirement files are local files. $USAGE"
  done
else
  [[ -n "$model_requirements" && -n "$stage" || -z "$model_requirements$stage" ]] ||
    fail "--model-requirements and --stage-model-tools go together. $USAGE"
  for uri in "$requirements" ${model_requirements:+"$model_requirements"} ${constraints:+"$constraints"}; do
    [[ "$uri" == s3://?*/?* ]] || fail "not an s3:// object URI: '$uri'. $USAGE"
  done
  [[ -z "$stage" || "$stage" == /?* ]] || fail "--stage-model-tools must be an absolute path, got '$stage'. $USAGE"
fi
[[ "$venv" == /?* ]] || fail "--venv must be an absolute path, got '$venv'. $USAGE"

[[ -x "$PYTHON" ]] || fail "Python 3.11 not found at $PYTHON (EMR 7 nodes have /usr/bin/python3.11; set ORCHARD_PYTHON)"
python_version="$("$PYTHON" --version 2>&1 || true)"
[[ "$python_version" == "Python 3.11."* ]] || fail "$PYTHON is $python_version, Python 3.11 is needed (the job's pins)"

writable_dir() {  # create DIR owned by this user (with sudo where the parent is root's, as /opt is)
  mkdir -p "$1" 2>/dev/null && [[ -w "$1" ]] && return
  sudo install -d -o "$(id -u)" -g "$(id -g)" "$1" || fail "cannot create $1, even with sudo"
}

if [[ -n "$add" ]]; then
  [[ -f "$venv/pyvenv.cfg" && -x "$venv/bin/python" ]] ||
    fail "$venv is not a virtual environment: nothing to add to (was the node bootstrapped with --venv $venv?)"
  files=(--requirements "$requirements")
  [[ -z "$constraints" ]] || files+=(--constraint "$constraints")
  what="packages of $(basename "$requirements")"
  log "adding the $what to $venv, $python_version ($PYTHON)"
else
  [[ -r "$INSTANCE_INFO" ]] || fail "cannot read $INSTANCE_INFO: not an EMR node? (set ORCHARD_INSTANCE_INFO)"
  if grep -Eq '"isMaster"[[:space:]]*:[[:space:]]*true' "$INSTANCE_INFO"; then role=primary; else role=core; fi
  what="job's packages"
  log "$role node, $python_version ($PYTHON), environment $venv"

  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT

  fetch() {  # fetch URI NAME: copy a requirement file to $work/NAME
    aws s3 cp --only-show-errors "$1" "$work/$2" >&2 || fail "cannot fetch $1 (aws s3 cp failed)"
  }
  fetch "$requirements" job.txt
  files=(--requirements "$work/job.txt")
  if [[ -n "$constraints" ]]; then
    fetch "$constraints" constraints.txt
    files+=(--constraint "$work/constraints.txt")
  else
    log "no --constraints: the packages named are pinned, their dependencies resolve to the newest compatible"
  fi

  # The primary also keeps what the job needs to install the model tools later, each file under its own name (the
  # job finds them by their published names: orchard_contract.emr_step); staged again on every run, whatever the stamp.
  if [[ "$role" == primary && -n "$stage" ]]; then
    fetch "$model_requirements" model.txt
    writable_dir "$stage"
    cp "${BASH_SOURCE[0]}" "$stage/$(basename "${BASH_SOURCE[0]}")"
    cp "$work/model.txt" "$stage/$(basename "$model_requirements")"
    [[ -z "$constraints" ]] || cp "$work/constraints.txt" "$stage/$(basename "$constraints")"
    log "staged for the job, should it build the model: $(cd "$stage" && echo *) in $stage"
  fi

  # What the environment is built from, hashed: the same inputs give the same environment.
  digest="$(
    {
      printf 'python=%s uv=%s\n' "$python_version" "$UV_VERSION"
      for ((i = 0; i < ${#files[@]}; i += 2)); do
        printf '%s %s\n' "${files[i]}" "$(basename "${files[i + 1]}")"
        cat "${files[i + 1]}"
      done
    } | sha256sum | cut -d' ' -f1
  )"
  stamp="$venv/$STAMP_NAME"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(<"$stamp")" == "$digest" ]]; then
    log "up to date (stamp $digest): nothing to install"
    exit 0
  fi
fi

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

if [[ -z "$add" ]]; then
  if [[ -e "$venv" ]]; then
    # Only ever remove a virtual environment (a mistyped --venv must not wipe a home folder).
    [[ -f "$venv/pyvenv.cfg" ]] || fail "$venv exists and is not a virtual environment: not touching it"
    log "rebuilding $venv: its stamp does not match this node's requirements"
    rm -rf "$venv"
  fi
  writable_dir "$(dirname "$venv")"
  log "creating $venv"
  "$uv" venv --quiet --python "$PYTHON" "$venv" || fail "uv could not create $venv with $PYTHON"
fi

shown="${files[*]}"
[[ -z "${work:-}" ]] || shown="${shown//"$work/"/}"
log "installing the $what: $shown"
started=$SECONDS
# Binary wheels only (nothing compiles from source on a billed node), no cache (one install per
# node), bytecode compiled now, on every core: YARN's user cannot write __pycache__ here, so without
# it every Python worker compiles what it imports, each time it starts (measured: importing numpy,
# pandas, pyarrow, Pillow and onnxruntime takes 5.5 s instead of 2.5 s).
"$uv" pip install --python "$venv/bin/python" --no-cache --only-binary :all: --compile-bytecode "${files[@]}" ||
  fail "installing the $what into $venv failed (see uv's message above)"
log "installed in $((SECONDS - started)) s:"
"$uv" pip freeze --python "$venv/bin/python" | sed 's/^/  /'
[[ -n "$add" ]] || printf '%s\n' "$digest" >"$stamp"
log "done in $SECONDS s${digest:+ (stamp $digest)}"
