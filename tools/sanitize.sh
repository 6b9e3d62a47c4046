#!/usr/bin/env bash
# Build seqnet's extension with AddressSanitizer and UndefinedBehaviorSanitizer
# into a virtual environment of its own, then run the kernel, binding,
# estimator and property tests under them.  Any invalid read or write, use
# after free, misaligned or overflowing arithmetic in csrc/ or the binding
# aborts the run with a report naming the line.
#
#   tools/sanitize.sh                 # the default test selection
#   tools/sanitize.sh "$PWD/tests/test_gemm.py" -k avx2   # pytest arguments
#                                     # instead (absolute paths: it runs
#                                     # from outside the tree)
#
# Environment: PYTHON (default python3), SEQNET_SANITIZE_VENV (default
# /tmp/seqnet-sanitize-venv), SEQNET_SANITIZE_BUILD (default
# /tmp/seqnet-sanitize-build), SEQNET_SANITIZE_REPORTS (default
# /tmp/seqnet-sanitize-reports).  Needs gcc with libasan and libubsan (CC
# may name another gcc).
#
# CPython itself is not instrumented, so libasan is preloaded, and leak
# detection is off: the interpreter keeps much of its memory until exit by
# design (tools/memcheck.sh checks seqnet's own allocations for leaks).
# The memory-growth test is left out: ASan's quarantine holds freed memory
# on purpose.  About 7 minutes on two cores: 1-2 to build, 5 to test.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
VENV=${SEQNET_SANITIZE_VENV:-/tmp/seqnet-sanitize-venv}
BUILD=${SEQNET_SANITIZE_BUILD:-/tmp/seqnet-sanitize-build}
CC=${CC:-gcc}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "scikit-build-core>=0.10" "cython>=3.0" \
    "cython-cmake>=0.2" "numpy>=1.23" "scikit-learn>=1.6" "threadpoolctl>=3" \
    pytest hypothesis joblib

# -O1 keeps stack traces readable; CMakeLists.txt's own -O3 comes later on
# the command line for the kernels and wins there, which is what ships.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
FLAGS="$SAN -fno-omit-frame-pointer -g -O1"
CC="$CC" "$VENV/bin/python" -m pip install -q --no-build-isolation \
    --force-reinstall --no-deps \
    -C cmake.define.CMAKE_C_FLAGS="$FLAGS" \
    -C cmake.define.CMAKE_MODULE_LINKER_FLAGS="$SAN" \
    -C cmake.define.CMAKE_BUILD_TYPE=RelWithDebInfo \
    -C build-dir="$BUILD" "$ROOT"

SO=$(ls "$VENV"/lib/python3*/site-packages/seqnet/_kernels*.so)
if ! ldd "$SO" | grep -q libasan; then
    echo "sanitize.sh: $SO is not linked against libasan" >&2
    exit 1
fi
LIBASAN=$("$CC" -print-file-name=libasan.so)

# Reports go to files: pytest captures the test's stderr, and an aborted
# interpreter never prints what it captured.  Subprocesses the tests start
# inherit all of this and are checked too.
REPORTS=${SEQNET_SANITIZE_REPORTS:-/tmp/seqnet-sanitize-reports}
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
export LD_PRELOAD="$LIBASAN"
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
ASAN_OPTIONS="$ASAN_OPTIONS:detect_stack_use_after_return=1"
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$REPORTS/ubsan"
# The interpreter's own allocator hides small buffers from ASan.
export PYTHONMALLOC=malloc

if [ $# -eq 0 ]; then
    set -- "$ROOT/tests/test_act.py" "$ROOT/tests/test_gemm.py" \
        "$ROOT/tests/test_kernels.py" "$ROOT/tests/test_training_kernels.py" \
        "$ROOT/tests/test_binding.py" "$ROOT/tests/test_validation.py" \
        "$ROOT/tests/test_estimators.py" "$ROOT/tests/test_stateful.py" \
        "$ROOT/tests/test_text.py" "$ROOT/tests/test_properties.py" \
        "$ROOT/tests/test_reliability.py" "$ROOT/tests/test_tokens.py" \
        "$ROOT/tests/test_seq2seq.py" "$ROOT/tests/test_schedules.py" \
        "$ROOT/tests/test_training_state.py" "$ROOT/tests/test_stress.py" \
        -k "not cycles_do_not_grow_memory" \
        -m "not slow" -p no:cacheprovider -q
fi
# From outside the source tree, so that the sanitized build is imported.
status=0
(cd /tmp && "$VENV/bin/python" -m pytest "$@") || status=$?
if compgen -G "$REPORTS/*" > /dev/null; then
    echo "sanitize.sh: the sanitizers reported errors:" >&2
    for report in "$REPORTS"/*; do
        echo "--- $report" >&2
        head -n 40 "$report" >&2
    done
    exit 1
fi
[ "$status" -eq 0 ] && echo "sanitize.sh: no sanitizer reports"
exit "$status"
