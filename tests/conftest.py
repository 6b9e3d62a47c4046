"""Shared test setup.

The tests exercise the installed package.  When pytest is started as
``python -m pytest`` from the repository root, the root is on sys.path and
the source tree's ``seqnet/`` (which has no compiled kernels) would shadow
the installed one, so it is taken off the path here.
"""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]

