"""minirpn.malloc: memory a training iteration frees stays in the process for the next one."""

import platform
import subprocess
import sys
import textwrap

import pytest

# A child process, so that its malloc starts from glibc's defaults: it allocates and fills
# eight 4 MiB arrays (an iteration's tape), frees them all, and counts the page faults
# (the kernel mapping and zeroing a fresh page) of doing the same again.
ROUND_TRIP = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from minirpn.malloc import keep_freed_memory

    kept = keep_freed_memory() if sys.argv[1] == "keep" else None

    def iteration():
        arrays = [np.ones(2**20, dtype=np.float32) for _ in range(8)]
        del arrays

    iteration()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    iteration()
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)
PAGES = 8 * 2**22 // 4096  # pages the eight arrays span


def faults_of_second_round(mode: str) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, mode], capture_output=True, text=True, check=True
    )
    kept, faults = out.stdout.split()
    return kept, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_arrays_are_reused_without_fresh_pages():
    kept, faults = faults_of_second_round("keep")
    assert kept == "True"
    assert faults < PAGES // 20  # the same pages again: a few faults for Python's own objects
    # glibc's defaults give many of those pages back to the system (unmapped or trimmed),
    # so the same round trip faults on them again (half of them with glibc 2.36): the
    # round trip does show what the settings are for.
    _, faults = faults_of_second_round("default")
    assert faults >= PAGES // 4
