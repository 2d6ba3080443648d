"""The ``randbench`` command: ``train`` (Hydra app), ``report`` (analysis), ``video`` (a policy's clip),
``evaluate`` (a final policy over many episodes), ``regress`` (CI check)."""

from __future__ import annotations

import sys

USAGE = """usage: randbench <command> [args]

commands:
  train    train one run or a sweep (Hydra: randbench train algo=ppo env=hopper seed=0;
           randbench train -m algo=ppo,a2c env=lunarlander seed=0,1; randbench train --help)
  report   figures and a comparison report of a runs folder (randbench report results/runs/demo)
  video    render a run's final policy to MP4 and GIF, off-screen (randbench video RUN_DIR --max-steps 500)
  evaluate evaluate runs' final policies over many episodes, with what a fixed policy's learning curve
           would show (randbench evaluate RUN_DIR... --episodes 100)
  regress  train the regression suite and compare its reward curves with results/reference/
           (randbench regress; randbench regress --update rewrites the reference)
"""


def _is_config_error(error: BaseException | None) -> bool:
    """Whether Hydra exited on a composition or override error (Hydra's and OmegaConf's exceptions)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(error, (HydraException, OmegaConfBaseException))


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        from sweeps.train import ExitStatus, train

        sys.argv = ["randbench train", *rest]
        try:
            train()
        except SystemExit as exit_:
            # Hydra reports a command line it cannot compose (an unknown config group option or
            # key, an ambiguous sweep value without -m) and exits 1: that is refused input.
            if not isinstance(exit_, ExitStatus) and exit_.code == 1 and _is_config_error(exit_.__context__):
                print("randbench train: error: the command line was refused (see above); nothing was run",
                      file=sys.stderr, flush=True)
                return 2
            raise
        return 0
    if command == "report":
        from analysis.cli import report_main

        return report_main(rest)
    if command == "video":
        from sweeps.video import video_main

        return video_main(rest)
    if command == "evaluate":
        from sweeps.evaluate import evaluate_main

        return evaluate_main(rest)
    if command == "regress":
        from sweeps.regress import regress_main

        return regress_main(rest)
    print(f"randbench: unknown command {command!r}; accepted: train, report, video, evaluate, regress\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
