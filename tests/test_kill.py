"""SIGKILL in the middle of a checkpoint save: the last checkpoint loads, resume is bit-identical.

A real ``python -m minirpn.cli train`` process saves a checkpoint after every iteration and
kills itself with SIGKILL (which no handler can catch) at a chosen point of its third save:
half-way through writing the arrays, or just before the temporary file is renamed over the
checkpoint. The points are chosen by counting calls inside the process, so the test is
deterministic. Every run is a child process with one BLAS thread, so that the uninterrupted
run, the killed one and the resumed one do the same floating-point sums (a different number
of BLAS threads may round differently). ~2 s per child.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from minirpn.checkpoint import load_checkpoint
from minirpn.fileio import LOCK_NAME, temp_path
from minirpn.history import HISTORY_NAME
from minirpn.runs import CHECKPOINT_NAME

ITERS, SEED = 4, 5
KILLED_SAVE = 3  # the save after iteration 3: the one on disk is iteration 2's

DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy.lib.format
    import minirpn.checkpoint
    from minirpn import Config
    from minirpn.cli import main
    from minirpn.train import train

    mode, out, iters, seed, save_to_kill = sys.argv[1:]
    if mode == "straight":  # what the command line below trains, without interruption
        cfg = Config.tiny(max_iters=int(iters), images_per_batch=1)
        train(cfg, out, seed=int(seed), progress=False, checkpoint_every=1)
        sys.exit(0)
    if mode == "resume":
        train(None, out, resume=True, progress=False)
        sys.exit(0)

    # mode "kill:<point>": count checkpoint saves and the arrays written, SIGKILL at the point.
    point, save_to_kill = mode.split(":")[1], int(save_to_kill)
    state = {"save": 0, "arrays": 0}
    real_atomic_write = minirpn.checkpoint.atomic_write
    real_write_array, real_replace = numpy.lib.format.write_array, os.replace

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def atomic_write(path):
        state["save"] += 1
        state["arrays"] = 0
        return real_atomic_write(path)

    def write_array(*args, **kwargs):
        state["arrays"] += 1
        if state["save"] == save_to_kill and point == f"array{state['arrays']}":
            die()
        return real_write_array(*args, **kwargs)

    def replace(src, dst):
        if state["save"] == save_to_kill and point == "before_replace":
            die()
        return real_replace(src, dst)

    minirpn.checkpoint.atomic_write = atomic_write
    numpy.lib.format.write_array = write_array
    os.replace = replace
    sys.exit(main(["train", "--out", out, "--iters", iters, "--batch-size", "1",
                   "--seed", seed, "--checkpoint-every", "1", "--no-progress"]))
    """
)


def child(mode, out):
    return subprocess.run(
        [sys.executable, "-c", DRIVER, mode, str(out), str(ITERS), str(SEED), str(KILLED_SAVE)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The checkpoint at the end of the uninterrupted run."""
    out = tmp_path_factory.mktemp("straight")
    proc = child("straight", out)
    assert proc.returncode == 0, proc.stderr
    return load_checkpoint(out / CHECKPOINT_NAME)


@pytest.mark.kernel_sensitive  # bit-for-bit resume must hold whatever the BLAS kernel
@pytest.mark.parametrize("point", ["array12", "before_replace"])
def test_kill_during_a_save_keeps_the_last_checkpoint_and_resume_is_bit_identical(
    tmp_path, straight, point
):
    run = tmp_path / "run"
    proc = child(f"kill:{point}", run)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert temp_path(run / CHECKPOINT_NAME).exists()  # the half-written file a kill leaves

    on_disk = load_checkpoint(run / CHECKPOINT_NAME)  # whole and readable
    assert on_disk.iteration == KILLED_SAVE - 1

    proc = child("resume", run)
    assert proc.returncode == 0, proc.stderr
    resumed = load_checkpoint(run / CHECKPOINT_NAME)
    assert resumed.iteration == straight.iteration == ITERS
    assert resumed.rng_state == straight.rng_state
    # The whole run state but the wall time: loss history, phase, seed, classes.
    untimed = dict(train_seconds=0.0)
    assert dataclasses.replace(resumed.run, **untimed) == dataclasses.replace(
        straight.run, **untimed
    )
    for mine, theirs in ((resumed.params, straight.params), (resumed.momentum, straight.momentum)):
        assert mine.keys() == theirs.keys()
        for name, value in theirs.items():
            np.testing.assert_array_equal(mine[name], value, err_msg=name)
    # The temp file is gone; the lock file of the killed process stays (a flock dies with
    # its process, the file is harmless and is what the next writer locks).
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME, CHECKPOINT_NAME, HISTORY_NAME]
