"""The slow red team (issue 21): races, kills at random moments and a full disk.

Each attack runs the real ``minirpn`` command (``python -m minirpn``, this tree, one BLAS
thread) several times and checks what must hold:

* race: two ``train --out R`` started together -- one trains, the other is refused naming
  the first one's process id, and the checkpoint in R is the winner's, whole;
* race: two ``train`` without ``--out`` in the same folder and second -- two run folders;
* kill: ``train`` interrupted by SIGINT, SIGTERM or SIGKILL at a random moment -- the
  checkpoint on disk (if one was written yet) loads, no temporary file is left but the
  one a SIGKILL may leave, and ``train --resume`` ends bit for bit where an uninterrupted
  run ends (weights, momentum, generator, loss history);
* full disk: ``train`` and ``make-toy-data`` into a small tmpfs (mounted here, which needs
  root) -- one line naming the file, the last checkpoint intact and loadable, no
  half-written data folder.

It prints each attack's trials and how many held, and exits with 1 if any did not.

    python benchmarks/redteam.py                # 5 trials per attack: ~5 minutes
    python benchmarks/redteam.py --trials 20 --seed 3
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minirpn.checkpoint import load_checkpoint  # noqa: E402
from minirpn.fileio import LOCK_NAME, temp_path  # noqa: E402
from minirpn.runs import CHECKPOINT_NAME  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
ITERS = 120  # ~5 s of training: long enough to be hit at any point
TRAIN = ["train", "--iters", str(ITERS), "--checkpoint-every", "10", "--val-images", "2"]
TRAIN += ["--no-progress"]


def minirpn(*argv, cwd=None) -> subprocess.Popen:
    command = [sys.executable, "-m", "minirpn", *map(str, argv)]
    return subprocess.Popen(
        command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def same_state(a, b) -> bool:
    """Two checkpoints hold the same training state, bit for bit."""
    if a.iteration != b.iteration or a.rng_state != b.rng_state:
        return False
    if a.extra.get("loss_history") != b.extra.get("loss_history"):
        return False
    for mine, theirs in ((a.params, b.params), (a.momentum, b.momentum)):
        if mine.keys() != theirs.keys():
            return False
        if not all(np.array_equal(mine[k], theirs[k]) for k in mine):
            return False
    return True


# --------------------------------------------------------------------------- attacks


def race_one_folder(work: Path, rng: random.Random) -> tuple[bool, str]:
    run = work / "run"
    first = minirpn(*TRAIN, "--out", run, "--seed", 1)
    time.sleep(rng.uniform(0, 0.5))
    second = minirpn(*TRAIN, "--out", run, "--seed", 2)
    (code1, err1), (code2, err2) = finish(first), finish(second)
    codes = sorted([code1, code2])
    if codes != [0, 1]:
        return False, f"exit codes {code1}, {code2}: {err1[-200:]} {err2[-200:]}"
    winner, loser_err = (first, err2) if code1 == 0 else (second, err1)
    loser_named_pid = f"in use by process {winner.pid}" in loser_err
    refused_by_run = "already holds a run" in loser_err  # came after the winner finished
    state = load_checkpoint(run / CHECKPOINT_NAME)
    whole = state.iteration == ITERS and state.extra["seed"] == (1 if winner is first else 2)
    held = whole and (loser_named_pid or refused_by_run)
    return held, f"refused: {loser_err.strip().splitlines()[-1][:90]}"


def race_default_names(work: Path, rng: random.Random) -> tuple[bool, str]:
    argv = ["train", "--iters", "3", "--val-images", "1", "--no-progress"]
    procs = [minirpn(*argv, cwd=work) for _ in range(2)]
    codes = [finish(p)[0] for p in procs]
    folders = sorted(p.name for p in (work / "runs").iterdir())
    held = codes == [0, 0] and len(folders) == 2
    held = held and all((work / "runs" / f / CHECKPOINT_NAME).is_file() for f in folders)
    return held, f"folders {folders}"


def kill_at_random(signum: int):
    def attack(work: Path, rng: random.Random, straight) -> tuple[bool, str]:
        run = work / "run"
        proc = minirpn(*TRAIN, "--out", run, "--seed", 5)
        moment = rng.uniform(0.0, 6.0)
        time.sleep(moment)
        proc.send_signal(signum)
        code, _ = finish(proc)
        checkpoint = run / CHECKPOINT_NAME
        # Only a caught signal can remove a half-written file (SIGTERM: issue 21's R20).
        temp_left = temp_path(checkpoint).exists()
        clean = not (temp_left and signum == signal.SIGINT)
        said = f"at {moment:.1f} s: exit {code}{', temp file left' if temp_left else ''}"
        if not checkpoint.exists():  # stopped before the first save: nothing to resume
            return clean, f"{said}, no checkpoint yet"
        on_disk = load_checkpoint(checkpoint)  # raises if damaged
        resume_code, resume_err = finish(minirpn("train", "--resume", run, "--no-progress"))
        same = resume_code == 0 and same_state(load_checkpoint(checkpoint), straight)
        detail = (
            f"{said}, checkpoint at iteration {on_disk.iteration} loads, resume exit "
            f"{resume_code}, {'bit-identical' if same else 'DIFFERENT: ' + resume_err[-200:]}"
        )
        return clean and same, detail

    return attack


def full_disk(work: Path, rng: random.Random) -> tuple[bool, str]:
    """Train and make-toy-data into a 12 MB tmpfs: room for one checkpoint (7.8 MB), not
    for its replacement beside it, nor for the toy data (~90 MB)."""
    disk = work / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        return False, f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}"
    try:
        run = disk / "run"
        code, err = finish(minirpn(*TRAIN, "--out", run))
        last = err.strip().splitlines()[-1] if err.strip() else ""
        state = load_checkpoint(run / CHECKPOINT_NAME)
        names = sorted(p.name for p in run.iterdir())
        train_held = (
            code == 1
            and "No space left on device" in last
            and str(run / CHECKPOINT_NAME) in last
            and "left as it was" in last
            and names == [LOCK_NAME, CHECKPOINT_NAME]
        )
        code2, err2 = finish(minirpn("make-toy-data", "--out", disk / "toy"))
        toy = disk / "toy"
        toy_held = code2 == 1 and not toy.exists() and not temp_path(toy).exists()
        detail = (
            f"train: exit {code}, '{last}', checkpoint loads (iteration "
            f"{state.iteration}); make-toy-data: exit {code2}, no folder left"
        )
        return train_held and toy_held, detail
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# --------------------------------------------------------------------------- runner


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="trials per attack")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        straight_dir = Path(tmp) / "straight"
        code, err = finish(minirpn(*TRAIN, "--out", straight_dir, "--seed", 5))
        if code != 0:
            raise SystemExit(f"the uninterrupted run failed: {err[-500:]}")
        straight = load_checkpoint(straight_dir / CHECKPOINT_NAME)

    attacks = [
        ("race: two trainings into one folder", race_one_folder, args.trials),
        ("race: two default run folders at once", race_default_names, args.trials),
        ("kill: SIGINT at a random moment, then resume", kill_at_random(signal.SIGINT), None),
        ("kill: SIGTERM at a random moment, then resume", kill_at_random(signal.SIGTERM), None),
        ("kill: SIGKILL at a random moment, then resume", kill_at_random(signal.SIGKILL), None),
        ("full disk: train and make-toy-data into a 12 MB tmpfs", full_disk, 1),
    ]
    failed = 0
    for title, attack, trials in attacks:
        trials = args.trials if trials is None else trials
        held = 0
        print(title)
        for trial in range(trials):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    if attack.__name__ == "attack":
                        ok, detail = attack(Path(tmp), rng, straight)
                    else:
                        ok, detail = attack(Path(tmp), rng)
                except Exception as error:  # a checkpoint that does not load, a timeout
                    ok, detail = False, f"{type(error).__name__}: {error}"
            held += ok
            print(f"  {trial + 1:2d}. {'held' if ok else 'FAILED'}: {detail}")
        print(f"  {held} of {trials} held\n")
        failed += trials - held
    print("everything held" if not failed else f"{failed} trial(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
