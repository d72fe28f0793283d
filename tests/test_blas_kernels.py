"""The kernel-sensitive tests and lessons again, under two other OpenBLAS kernels.

NumPy's OpenBLAS picks its kernel by CPU (SkylakeX with AVX-512, Haswell with AVX2, ...,
:mod:`minirpn.blas`), and each kernel rounds a float32 matrix product differently; a few
hundred training iterations turn that last bit into a different model. A test marked
``kernel_sensitive`` (training, the lessons, anything that learns or reports what a model
computes) must hold under every kernel, not only the one of the machine it was written on.
So each test here runs ``pytest -m kernel_sensitive`` again in a fresh Python with
``OPENBLAS_CORETYPE`` set (OpenBLAS reads it once, when NumPy loads) and checks, through the
kernel name the run's header prints, that the kernel really changed.

Of the core types in :data:`CORETYPES`, the first :data:`EXTRA_KERNELS` that this CPU can
run and that differ from its own kernel are used; the others are skipped, with the reason.
"""

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import KERNEL_HEADER

from minirpn.blas import corename

ROOT = Path(__file__).resolve().parent.parent
CORETYPES = ("Haswell", "Prescott", "Sandybridge")  # AVX2, SSE3, AVX: in order of preference
EXTRA_KERNELS = 2
# A fresh Python under a core type: a matrix product checked against float64, then the name.
PROBE = (
    "import numpy as np; from minirpn.blas import corename; "
    "a = np.linspace(-1, 1, 96 * 96, dtype=np.float32).reshape(96, 96); "
    "assert np.allclose(a @ a, a.astype(np.float64) @ a, atol=1e-4); print(corename())"
)


def under(coretype: str) -> dict:
    return {**os.environ, "OPENBLAS_CORETYPE": coretype}


@functools.cache
def kernel_of(coretype: str) -> tuple[str | None, str]:
    """(kernel name, "") if a fresh Python runs ``coretype``, else (None, why not)."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=under(coretype), capture_output=True, text=True
    )
    if proc.returncode != 0:  # e.g. SIGILL: the kernel uses instructions this CPU lacks
        return None, f"this CPU cannot run it (exit code {proc.returncode}): {proc.stderr[-300:]}"
    return proc.stdout.strip(), ""


@functools.cache
def chosen() -> dict[str, str]:
    """Core type -> why it is skipped, for every core type of CORETYPES not used."""
    own, skipped, used = corename(), {}, []
    for coretype in CORETYPES:
        kernel, why = kernel_of(coretype)
        if kernel is None:
            skipped[coretype] = why
        elif kernel == own or kernel in (kernel_of(c)[0] for c in used):
            skipped[coretype] = f"it loads the kernel {kernel}, already tested"
        elif len(used) == EXTRA_KERNELS:
            skipped[coretype] = f"{EXTRA_KERNELS} other kernels are tested already ({used})"
        else:
            used.append(coretype)
    return skipped


@pytest.mark.parametrize("coretype", CORETYPES)
def test_kernel_sensitive_tests_pass_under_another_kernel(coretype):
    if corename() is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS that minirpn.blas finds: no kernel to switch")
    if coretype in chosen():
        pytest.skip(f"OPENBLAS_CORETYPE={coretype} not tested: {chosen()[coretype]}")
    kernel = kernel_of(coretype)[0]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "kernel_sensitive", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=under(coretype),
        capture_output=True,
        text=True,
    )
    report = proc.stdout + proc.stderr
    assert f"{KERNEL_HEADER}{kernel}\n" in report, f"the run did not use {kernel}:\n{report[:2000]}"
    assert proc.returncode == 0, (
        f"pytest -m kernel_sensitive under OPENBLAS_CORETYPE={coretype} (kernel {kernel}) "
        f"exited with {proc.returncode}:\n{report[-6000:]}"
    )


def threads_after_use_one_thread(**env) -> str:
    """get_num_threads() in a fresh Python that called use_one_thread(), with ``env``."""
    code = (
        "from minirpn import blas; blas.use_one_thread(); "
        "print(blas._function('get_num_threads')())"
    )
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    ).stdout.strip()


def test_use_one_thread_pins_blas_unless_the_user_chose():
    if corename() is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS that minirpn.blas finds")
    assert threads_after_use_one_thread() == "1"
    assert threads_after_use_one_thread(OPENBLAS_NUM_THREADS="2") == "2"
