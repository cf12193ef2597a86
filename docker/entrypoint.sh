#!/usr/bin/env bash
# Entrypoint of the gpun2d image: `docker run IMAGE COMMAND [OPTIONS...]` runs `gpun2d COMMAND ...`.
#
#   (no arguments)                   gpun2d --help
#   gpun2d [ARGS...]                 gpun2d ARGS...        (always gpun2d; no ARGS: --help)
#   -OPTION [ARGS...]                gpun2d -OPTION ARGS...  (--version, -v run ..., --help)
#   PROGRAM [ARGS...]                PROGRAM ARGS...       when PROGRAM is on PATH (bash, python, nvidia-smi)
#   anything else                    gpun2d ARGS...        (run, study, bench, datasets, any later subcommand)
#
# It knows no subcommand and reads no option: gpun2d does. The image's defaults are environment
# variables that gpun2d reads itself (see the Dockerfile): GPUN2D_RESULTS=/results (the folder of
# every default output folder) and GPUN2D_DEVICE=cuda (no silent fallback to the CPU; override
# with --device cpu|auto or -e GPUN2D_DEVICE=auto). gpun2d also checks that its output folder is
# writable before it computes anything, so nothing is checked here.
#
# Nothing needs activating: the conda environment of the RAPIDS base image is /opt/conda itself,
# already first on the image's PATH, and the base image's own entrypoint, which runs before this
# one (see ENTRYPOINT), prints the license notice and installs EXTRA_CONDA_PACKAGES and
# EXTRA_PIP_PACKAGES. Every branch ends in `exec`, so signals (docker stop, Ctrl-C) reach the
# program itself.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    exec gpun2d --help
fi
if [[ "$1" == "gpun2d" ]]; then
    shift
    if [[ $# -eq 0 ]]; then
        exec gpun2d --help
    fi
    exec gpun2d "$@"
fi
if [[ "$1" != -* ]] && type -P -- "$1" >/dev/null; then
    exec "$@"
fi
exec gpun2d "$@"
