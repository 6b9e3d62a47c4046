"""Read a valgrind memcheck log (tools/memcheck.sh) and tell seqnet's errors
from those of CPython, NumPy and the dynamic loader.

An error or definite leak is seqnet's when a frame of its native stack --
the frames below the first CPython call frame -- is in the extension: a
kernel (``sn_*``, csrc/*.c), the Cython binding (``__pyx_*``, _kernels.c)
or the module itself.  Exit status 1 if there is any.

    python tools/memcheck_report.py /tmp/seqnet-memcheck.log
"""
import collections
import re
import sys

KINDS = ("Invalid read", "Invalid write", "Conditional jump",
         "Use of uninitialised", "uninitialised byte", "Invalid free",
         "Mismatched free", "definitely lost", "Source and destination",
         "overlap")
OURS = re.compile(r"_kernels[.\w-]*\.so|\bsn_\w+|__pyx_|csrc/|_kernels\.c:"
                  r"|\((?:gemm|recur|lstm|gru|elman|loss|optim|random|stack|"
                  r"act|cpu|team)(?:_\w+)?\.c:\d+\)")
CPYTHON_CALL = re.compile(r"_PyEval_|PyObject_Call|cfunction_|_Py\w*Vectorcall"
                          r"|method_vectorcall|slot_tp_")
LOADER = re.compile(r"\b_?dl_\w+|dl-\w+\.c")


def records(log):
    """The log's records: runs of non-empty ``==pid==`` lines."""
    current = []
    for line in log.splitlines():
        body = re.sub(r"^==\d+== ?", "", line)
        if body.strip():
            current.append(body)
        elif current:
            yield current
            current = []
    if current:
        yield current


def is_ours(record):
    native = []
    for line in record[1:]:
        if CPYTHON_CALL.search(line) or "Uninitialised value was created" \
                in line or "Address 0x" in line:
            break
        native.append(line)
    return (any(OURS.search(line) for line in native)
            and not any(LOADER.search(line) for line in native))


def main(path):
    log = open(path).read()
    ours, theirs = [], collections.Counter()
    for record in records(log):
        if not any(kind in record[0] for kind in KINDS):
            continue
        if is_ours(record):
            ours.append(record)
        else:
            kind = next(k for k in KINDS if k in record[0])
            theirs[kind] += 1
    for line in log.splitlines():
        if "ERROR SUMMARY" in line or "definitely lost:" in line:
            print(re.sub(r"^==\d+== ?", "", line))
    print(f"memcheck: {len(ours)} error(s) or definite leak(s) in seqnet's "
          f"code; elsewhere (CPython, NumPy, the loader): "
          f"{dict(theirs) or 'none'}")
    for record in ours:
        print("\n  " + "\n  ".join(record[:30]))
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
