"""Hypothesis profiles for the property tests (tests/test_ops_fuzz.py and every @given test
that does not fix its own number of examples).

    python -m pytest                                      # "ci": 200 examples per test
    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_ops_fuzz.py   # 5000 per test (minutes)
"""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("fuzz", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
