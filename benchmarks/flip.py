"""Horizontal flips on the toy data: the main job with and without ``cfg.flip``, paired by seed.

    python benchmarks/flip.py [--seeds 4] [--coretypes default Haswell] [--runs DIR]

Trains the main job (``Config.tiny()``, approximate joint training, RoI pooling) for seeds
0..N-1 under each OpenBLAS core type, once without and once with horizontal flips
(``Config.tiny(flip=...)``, :mod:`minirpn.batching`), scores every run on the toy validation
split and prints, per seed, mAP@0.5 and COCO mAP@[.5:.95] of both and their difference, then
per core type and over every pair the mean difference and its spread. Runs go through
``seeds.py`` (fresh worker processes, one BLAS thread each) and are kept in ``--runs``
(default ``benchmarks/.runs/flip``), so a second call prints the table at once. The tiny
preset's default for ``flip`` is chosen from this table (``minirpn/config.py``).
"""

from __future__ import annotations

from pathlib import Path

from experiments import machine, mean_spread
from seeds import results_under, run_options

DEFAULT_RUNS = Path(__file__).resolve().parent / ".runs" / "flip"
DEFAULT_CORETYPES = ("default", "Haswell")
KEYS = {"map50": "mAP@0.5", "map": "COCO mAP"}


def main(argv=None) -> None:
    parser = run_options(__doc__.split("\n")[0], DEFAULT_RUNS, DEFAULT_CORETYPES)
    args = parser.parse_args(argv)

    pairs = []  # (core type, seed, result without flips, result with flips)
    for coretype in args.coretypes:
        off, on = (
            results_under(coretype, args.seeds, args.runs, args.workers, {"flip": flip})
            for flip in (False, True)
        )
        pairs += [(coretype, a["seed"], a, b) for a, b in zip(off, on, strict=True)]
    print("\nmain job (Config.tiny(), approximate joint, RoI pooling) without / with flips")
    print(f"toy validation split; {machine()}\n")
    header = "  ".join(f"{label:>8s} off  {'on':>6s}  {'on-off':>7s}" for label in KEYS.values())
    print(f"{'core type':10s}  {'kernel':10s}  {'seed':>4s}  {header}")
    for coretype, seed, off, on in pairs:
        cells = "  ".join(f"{off[k]:12.4f}  {on[k]:6.4f}  {on[k] - off[k]:+7.4f}" for k in KEYS)
        print(f"{coretype:10s}  {off.get('blas') or '?':10s}  {seed:4d}  {cells}")
    print()
    groups = [(c, [p for p in pairs if p[0] == c]) for c in args.coretypes]
    for name, group in [*groups, (f"all {len(pairs)} pairs", pairs)]:
        parts = []
        for key, label in KEYS.items():
            for flip, index in (("off", 2), ("on", 3)):
                mean, spread = mean_spread([p[index][key] for p in group])
                parts.append(f"{label} {flip} {mean:.4f} ± {spread:.4f}")
            diffs = [p[3][key] - p[2][key] for p in group]
            better = sum(d > 0 for d in diffs)
            parts.append(
                f"on-off {sum(diffs) / len(diffs):+.4f} (on higher in {better}/{len(diffs)})"
            )
        print(f"{name}:\n  " + "\n  ".join(parts))


if __name__ == "__main__":
    main()
