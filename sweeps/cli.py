"""The ``randbench`` command: ``train`` (Hydra app), ``report`` (analysis), ``regress`` (CI check)."""

from __future__ import annotations

import sys

USAGE = """usage: randbench <command> [args]

commands:
  train    train one run or a sweep (Hydra: randbench train algo=ppo env=hopper seed=0;
           randbench train -m algo=ppo,a2c env=lunarlander seed=0,1; randbench train --help)
  report   figures and a comparison report of a runs folder (randbench report results/runs/demo)
  regress  train the regression suite and compare its reward curves with results/reference/
           (randbench regress; randbench regress --update rewrites the reference)
"""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        from sweeps.train import train

        sys.argv = ["randbench train", *rest]
        train()
        return 0
    if command == "report":
        from analysis.cli import report_main

        return report_main(rest)
    if command == "regress":
        from sweeps.regress import regress_main

        return regress_main(rest)
    print(f"randbench: unknown command {command!r}; accepted: train, report, regress\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
