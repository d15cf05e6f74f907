#!/usr/bin/env bash
# Runs a command as two MPI ranks on this machine (Open MPI's mpirun), as the data-parallel tests
# need: one thread per rank (two ranks share the cores), root allowed (CI containers), no
# single-copy shared-memory transfers (they need ptrace rights containers often lack).
# Usage: mpirun_test.sh COMMAND [ARGS...]
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export ONESTEP_THREADS="${ONESTEP_THREADS:-1}"
forward=(-x ONESTEP_THREADS)
[ -z "${ONESTEP_DIST_TIMEOUT+set}" ] || forward+=(-x ONESTEP_DIST_TIMEOUT)
exec mpirun --oversubscribe --bind-to none -np 2 "${forward[@]}" "$@"
