#!/usr/bin/env bash
# Run a small fit / predict / step / pickle cycle of every estimator under
# valgrind memcheck (tools/memcheck_cycle.py) and fail if valgrind reports an
# invalid read or write, a use of uninitialised memory, a bad free or a
# definite leak whose stack passes through seqnet's extension.
#
#   tools/memcheck.sh                # the seqnet installed for python3
#   PYTHON=/tmp/venv/bin/python tools/memcheck.sh
#
# Errors inside CPython, NumPy or the loader alone are counted but do not fail
# the run (tools/memcheck_report.py tells them apart).  The full log is kept
# in $SEQNET_MEMCHECK_LOG (default /tmp/seqnet-memcheck.log).  About 3
# minutes on two cores (5 on a busy one).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
LOG=${SEQNET_MEMCHECK_LOG:-/tmp/seqnet-memcheck.log}

# The system allocator, so that valgrind sees every Python allocation, and
# one OpenMP thread pool that does not linger (valgrind runs threads one at
# a time; the kernels still take their threaded paths with n_jobs=2).
cd /tmp
PYTHONMALLOC=malloc OMP_WAIT_POLICY=passive \
valgrind --tool=memcheck --error-limit=no --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --track-origins=yes --num-callers=40 --log-file="$LOG" \
    "$PYTHON" "$ROOT/tools/memcheck_cycle.py"

"$PYTHON" "$ROOT/tools/memcheck_report.py" "$LOG"
