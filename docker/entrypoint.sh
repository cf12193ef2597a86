#!/usr/bin/env bash
# Entrypoint of the gpun2d image: `docker run IMAGE SUBCOMMAND [OPTIONS...]` runs `gpun2d SUBCOMMAND ...`.
#
#   (no arguments)               gpun2d --help
#   run|bench|datasets ...       gpun2d run|bench|datasets ...   (a leading "gpun2d" is accepted too)
#   anything else (bash, python) executed as given
#
# For `run` and `bench`:
#   - without --out, results go to $GPUN2D_RESULTS (the /results volume) as SUBCOMMAND-DATASET-TIME;
#   - without a visible NVIDIA GPU they stop with a clear message, unless --device cpu is given;
#   - with a GPU and no --device, --device cuda is added, so a broken GPU stack fails loudly
#     instead of falling back to hours on the CPU (pass --device auto to allow that fallback).
set -euo pipefail

results_root="${GPUN2D_RESULTS:-/results}"

say() { printf 'gpun2d container: %s\n' "$*" >&2; }

gpu_visible() {
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '
}

if [[ $# -gt 0 && "$1" == "gpun2d" ]]; then
    shift
fi
if [[ $# -eq 0 ]]; then
    exec gpun2d --help
fi

# The subcommand is the first argument that is not a group option (-v, --verbose, --version, -h).
subcommand=""
for arg in "$@"; do
    if [[ "$arg" != -* ]]; then
        subcommand="$arg"
        break
    fi
done
case "$subcommand" in
    run | bench | datasets | "") ;;
    *)
        if [[ "$1" != -* ]]; then
            exec "$@" # not a gpun2d subcommand: bash, python, ...
        fi
        ;;
esac
if [[ "$subcommand" != "run" && "$subcommand" != "bench" ]]; then
    exec gpun2d "$@"
fi

# Read the options that decide what to add: --out, --device, the data's name, --help.
has_out=false
wants_help=false
device=""
name=""
previous=""
for arg in "$@"; do
    case "$previous" in
        --device) device="$arg" ;;
        --dataset | -d | --datasets) name="$arg" ;;
        --input) name="$(basename "$arg")"; name="${name%.*}" ;;
    esac
    case "$arg" in
        --out | --out=* | -o | -o?*) has_out=true ;;
        --device=*) device="${arg#--device=}" ;;
        --dataset=* | --datasets=*) name="${arg#*=}" ;;
        --input=*) name="$(basename "${arg#--input=}")"; name="${name%.*}" ;;
        -h | --help) wants_help=true ;;
    esac
    previous="$arg"
done
if [[ "$wants_help" == true ]]; then
    exec gpun2d "$@"
fi

extra=()
if [[ "$device" != "cpu" ]]; then
    if ! gpu_visible; then
        say "no NVIDIA GPU is visible in this container (nvidia-smi lists none)."
        say "  Give it the GPUs:  docker run --gpus all ...  (needs the NVIDIA Container Toolkit on the host"
        say "                     and a driver recent enough for CUDA 13, i.e. 580 or newer)"
        say "  or run on the CPU: add --device cpu (much slower; fine for small data)"
        exit 1
    fi
    if [[ -z "$device" ]]; then
        extra+=(--device cuda)
    fi
fi

if [[ "$has_out" == false ]]; then
    mkdir -p "$results_root" 2>/dev/null || true
    if [[ ! -w "$results_root" ]]; then
        say "cannot write results to $results_root (uid $(id -u))."
        say "  Make the mounted folder writable for uid $(id -u) on the host, e.g."
        say "  mkdir -p results && sudo chown $(id -u) results, or pass --out to another folder."
        exit 1
    fi
    tag="${name//[^A-Za-z0-9._-]/+}"
    extra+=(--out "$results_root/$subcommand${tag:+-$tag}-$(date +%Y%m%d-%H%M%S)")
fi

exec gpun2d "$@" "${extra[@]}"
