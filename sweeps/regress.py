"""``randbench regress``: train the regression suite and judge its curves against the reference.

    randbench regress                  train conf/sweep/ci.yaml, compare with results/reference/ci/
    randbench regress --update         train it and rewrite the reference (a deliberate change)
    randbench regress --update --merge -- +regress=ppo_pendulum
                                       re-make one case's reference, keep the others
    randbench regress --runs DIR       compare an existing runs folder of the suite, without training
    randbench regress -- algo=ppo,sac  extra Hydra overrides for the suite's training sweep

Each check trains into a new folder (``results/regress/<suite>-<UTC time>/``), so no earlier run is
re-used or overwritten. Exit status: 0 pass (or reference written), 1 a regression or a run that did
not complete, 2 an unusable reference (missing, damaged, made with other settings) or bad input.
The comparison itself is :mod:`analysis.regress`.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from analysis.argtypes import EXIT_REGRESSION, EXIT_UNUSABLE
from analysis.argtypes import REGRESS_TOLERANCE as DEFAULT_TOLERANCE

REPO = Path(__file__).resolve().parent.parent
SWEEP_DIR = REPO / "conf" / "sweep"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``randbench regress``."""
    parser = argparse.ArgumentParser(
        prog="randbench regress",
        description="Run the regression suite (short seeded training runs) and compare each reward curve "
        "with the committed reference; exit 1 on a shortfall, 2 on an unusable reference.",
    )
    parser.add_argument("--suite", default="ci", help="sweep preset conf/sweep/<SUITE>.yaml (default: ci)")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="reference folder (default: results/reference/<SUITE>)",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="compare this existing runs folder of the suite instead of training one",
    )
    parser.add_argument(
        "--output-root",
        type=Path,
        default=REPO / "results" / "regress",
        help="where fresh suites are trained, one new folder per check (default: results/regress)",
    )
    parser.add_argument("--update", action="store_true", help="write the reference from the fresh runs")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --update: replace only the (algo, env) pairs this run trained and keep the reference's "
        "others (e.g. randbench regress --update --merge -- +regress=ppo_pendulum)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="band widening as a fraction of each env's score range; with --update it is stored in the "
        f"reference (default {DEFAULT_TOLERANCE}), otherwise it overrides the reference's",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the training sweep (after --)")
    return parser


def _train(suite: str, runs_parent: Path, overrides: list[str]) -> tuple[Path, int]:
    """Train the suite into ``runs_parent/<suite>``; returns the folder and the exit status."""
    command = [
        sys.executable,
        "-m",
        "sweeps.cli",
        "train",
        f"+sweep={suite}",
        f"sweep_name={suite}",
        f"output.root={runs_parent}",
        *overrides,
    ]
    print(f"randbench regress: training the {suite!r} suite into {runs_parent / suite}", flush=True)
    status = subprocess.run(command, cwd=REPO, check=False).returncode
    return runs_parent / suite, status


def regress_main(argv: list[str] | None = None) -> int:
    """Run ``randbench regress``; returns the exit status."""
    args = build_parser().parse_args(argv)
    # Imported after parsing: `--help` and a refused argument need no pandas.
    from analysis.regress import (
        ReferenceUnusableError,
        compare,
        load_reference,
        make_reference,
        merge_reference,
        summary,
        write_reference,
    )

    if not (SWEEP_DIR / f"{args.suite}.yaml").is_file():
        known = sorted(p.stem for p in SWEEP_DIR.glob("*.yaml"))
        print(f"randbench regress: no suite {args.suite!r}; accepted: {', '.join(known)}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.merge and not args.update:
        print("randbench regress: --merge only goes with --update", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.tolerance is not None and not args.tolerance >= 0:
        print(f"randbench regress: --tolerance {args.tolerance} is invalid; expected >= 0", file=sys.stderr)
        return EXIT_UNUSABLE
    reference_dir = (
        args.reference if args.reference is not None else REPO / "results" / "reference" / args.suite
    )
    if not args.update and args.runs is None and not (reference_dir / "reference.json").is_file():
        # Say so before spending the suite's training time.
        print(
            f"randbench regress: no reference in {reference_dir} (make one with `randbench regress --update`)",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE

    start = time.monotonic()
    if args.runs is not None:
        if args.overrides:
            print("randbench regress: overrides apply to training; --runs trains nothing", file=sys.stderr)
            return EXIT_UNUSABLE
        runs_dir = args.runs
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        runs_dir, status = _train(args.suite, args.output_root / f"{args.suite}-{stamp}", args.overrides)
        if status == 2:
            print("randbench regress: the suite's configuration was refused (see above)", file=sys.stderr)
            return EXIT_UNUSABLE
        if status == 1:  # a job failed or diverged: the comparison marks it NOT COMPLETED
            print("randbench regress: not every run of the suite completed (see the sweep summary)", file=sys.stderr)
        elif status != 0:
            print(f"randbench regress: training stopped with exit status {status}", file=sys.stderr)
            return status
    train_seconds = time.monotonic() - start

    if args.update:
        made_by = shlex.join(["randbench", "regress", "--update", f"--suite={args.suite}", *args.overrides])
        try:
            tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
            reference, curves = make_reference(runs_dir, made_by, tolerance=tolerance)
        except ValueError as error:
            print(f"randbench regress: reference not written: {error}", file=sys.stderr)
            return EXIT_REGRESSION
        trained = len(reference["pairs"])
        if args.merge and (reference_dir / "reference.json").is_file():
            try:
                reference, curves = merge_reference(load_reference(reference_dir), (reference, curves))
            except (ReferenceUnusableError, ValueError) as error:
                print(f"randbench regress: reference not written: {error}", file=sys.stderr)
                return EXIT_UNUSABLE
        path = write_reference(reference_dir, reference, curves)
        print(
            f"reference written: {path} ({trained} (algo, env) pairs from {runs_dir}, "
            f"{len(reference['pairs']) - trained} kept)"
        )
        print(f"suite wall-clock: {train_seconds:.0f} s")
        return 0

    try:
        result = compare(runs_dir, reference_dir, tolerance=args.tolerance)
    except ReferenceUnusableError as error:
        print(f"randbench regress: unusable reference: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except (FileNotFoundError, ValueError) as error:
        print(f"randbench regress: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"\nregression check of {runs_dir} against {reference_dir}:")
    summary(result)
    print(f"suite wall-clock: {time.monotonic() - start:.0f} s (training {train_seconds:.0f} s)")
    return result.exit_status


if __name__ == "__main__":
    sys.exit(regress_main())
