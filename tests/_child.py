"""Helpers for the tests' child interpreters (tests/test_reliability.py,
tests/test_seq2seq.py), which find this module through PYTHONPATH: Ctrl-C
on a timer, and waiting for a forked child that may hang."""
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


def wait_child(pid, timeout=60.0):
    """The exit code of forked child ``pid``, or "hung" (and the child
    killed) when it has not ended within ``timeout`` seconds."""
    start = time.time()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.time() - start > timeout:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "hung"
        time.sleep(0.05)
