"""Hypothesis profiles for the property tests (tests/test_ops_fuzz.py and every @given test
that does not fix its own number of examples).

    python -m pytest                                      # "ci": 200 examples per test
    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_ops_fuzz.py   # 5000 per test (minutes)
"""

import os

# One BLAS thread, as the minirpn command runs (minirpn/cli.py): the tiny model's matrix
# products gain little from a second thread, and on a busy two-core machine two threads make
# the training tests several times slower. Set before anything imports NumPy; an explicit
# OPENBLAS_NUM_THREADS wins, and subprocesses (the CLI and kill tests) inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("fuzz", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
