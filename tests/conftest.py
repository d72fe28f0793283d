"""Hypothesis profiles for the property tests (tests/test_ops_fuzz.py and every @given test
that does not fix its own number of examples), and the ``kernel_sensitive`` marker.

    python -m pytest                                      # "ci": 200 examples per test
    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/test_ops_fuzz.py   # 5000 per test (minutes)
    OPENBLAS_CORETYPE=Haswell python -m pytest -m kernel_sensitive   # what test_blas_kernels runs

The header of every run names the OpenBLAS kernel NumPy's matrix products run on.
"""

import os

# One BLAS thread, as the minirpn command runs (minirpn/cli.py): the tiny model's matrix
# products gain little from a second thread, and on a busy two-core machine two threads make
# the training tests several times slower. Set before anything imports NumPy; an explicit
# OPENBLAS_NUM_THREADS wins, and subprocesses (the CLI and kill tests) inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("fuzz", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

KERNEL_HEADER = "OpenBLAS kernel: "


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "kernel_sensitive: asserts what float32 training learned, or what a trained model or a "
        "lesson computes; tests/test_blas_kernels.py runs these again under other OpenBLAS "
        "kernels, since each kernel rounds matrix products differently",
    )


def pytest_report_header(config):
    from minirpn.blas import corename

    return f"{KERNEL_HEADER}{corename()}"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder holding an untrained (fixed-seed, but valid) detector and the training
    state a resume needs: enough to exercise the CLI and the pictures."""
    import numpy as np

    from minirpn import Config
    from minirpn.checkpoint import Checkpoint, save_checkpoint
    from minirpn.data import TOY_CLASS_NAMES
    from minirpn.model import Detector
    from minirpn.run_state import RunState
    from minirpn.runs import CHECKPOINT_NAME

    path = tmp_path_factory.mktemp("run")
    cfg = Config.tiny()
    detector = Detector(cfg, num_classes=len(TOY_CLASS_NAMES), seed=0)
    save_checkpoint(
        path / CHECKPOINT_NAME,
        Checkpoint(
            config=cfg,
            params=detector.params,
            momentum={},
            iteration=0,
            rng_state=np.random.default_rng(0).bit_generator.state,
            run=RunState(
                seed=0,
                scheme="approximate-joint",
                data=None,
                class_names=TOY_CLASS_NAMES,
                category_ids=tuple(range(1, len(TOY_CLASS_NAMES) + 1)),
            ),
        ),
    )
    return path


def run_main(capsys, *argv):
    """``minirpn ARGV...`` in this process: (exit code, stdout, stderr)."""
    from minirpn.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A COCO data folder of six 80 x 80 toy training images: quick training runs."""
    from minirpn.data import make_toy_data

    root = tmp_path_factory.mktemp("small_data")
    make_toy_data(root / "train", "train", num_images=6, seed=2, image_size=80)
    return root
