"""Ctrl-C on a timer, for the interrupt tests' child interpreters
(tests/test_reliability.py, tests/test_seq2seq.py), which find this module
through PYTHONPATH."""
import os
import signal
import threading
import time


def catch_ctrl_c():
    """Make SIGINT raise KeyboardInterrupt.  Python does so only if SIGINT
    was not ignored when it started, and a shell's background job
    (`cmd &`) starts with it ignored: the suite run that way would go on
    fitting for all its epochs."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def interrupted(call, after):
    """Ctrl-C from another thread ``after`` seconds into ``call()``; Python
    raises KeyboardInterrupt in the main thread as soon as the running
    kernel call returns.  Returns that delay in seconds."""
    sent = []

    def ctrl_c():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(after, ctrl_c)
    timer.start()
    try:
        call()
    except KeyboardInterrupt:
        caught = time.perf_counter()
        timer.join()
        return caught - sent[0]
    timer.cancel()
    raise AssertionError(f"the call ended within {after} s, before the "
                         "interrupt")
