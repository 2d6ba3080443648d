"""``randbench report RUNS_DIR``: figures and a comparison report of a runs folder.

Also runnable as ``python -m analysis.cli RUNS_DIR``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.argtypes import DEFAULT_LAST_K, DEFAULT_REPS, fraction, markdown_path, positive_int


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``randbench report``."""
    parser = argparse.ArgumentParser(
        prog="randbench report",
        description="Write report.md, a self-contained report.html and figures (PNG, SVG) for a runs folder.",
    )
    parser.add_argument(
        "runs_dir",
        metavar="RUNS_DIR",
        type=Path,
        nargs="+",
        help="a sweep folder (results/runs/<sweep>), a runs folder or a single run folder; several are "
        "read as one set (e.g. a study's runs and the benchmark runs they are compared with)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: the first RUNS_DIR's report/)"
    )
    parser.add_argument(
        "--threshold-fraction",
        type=fraction,
        default=None,
        metavar="F",
        help="return threshold per env at fraction F in (0, 1] of the way from the env's lower "
        "score bound to the best algorithm's final return (default: the env's "
        "reward_threshold from conf/env)",
    )
    parser.add_argument(
        "--ppo-fraction",
        type=fraction,
        default=0.9,
        metavar="F",
        help="PPO-level return, against which the paper's claim is judged: fraction F in (0, 1] of the way "
        "from the env's lower score bound to PPO's mean final return (default: 0.9)",
    )
    parser.add_argument(
        "--page",
        type=markdown_path,
        default=None,
        metavar="PAGE.md",
        help="also write the report as one markdown page for the repository, its PNG figures in the folder "
        "of the same name (docs/benchmark.md -> docs/benchmark/)",
    )
    parser.add_argument(
        "--notes",
        type=Path,
        default=None,
        metavar="NOTES.md",
        help="markdown inserted after the page's header (the written reading of the results)",
    )
    parser.add_argument(
        "--videos",
        action="store_true",
        help="embed one clip per (task, algorithm), the best seed's final policy (GIF inline, MP4 in "
        "OUT/videos/); a run without a current clip (randbench video) is rendered off-screen",
    )
    parser.add_argument(
        "--video-steps",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --videos: env steps after which a clip's episode is cut (default: 500)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every bootstrap (default: 0)")
    parser.add_argument(
        "--last-k",
        type=positive_int,
        default=DEFAULT_LAST_K,
        metavar="K",
        help=f"evaluation points averaged into the final return (default: {DEFAULT_LAST_K})",
    )
    parser.add_argument(
        "--reps",
        type=positive_int,
        default=DEFAULT_REPS,
        help=f"bootstrap resamples, >= 100 (default: {DEFAULT_REPS})",
    )
    parser.add_argument(
        "--conf",
        type=Path,
        default=None,
        help="config tree holding env/*.yaml with score bounds (default: this repository's conf/)",
    )
    return parser


def report_main(argv: list[str] | None = None) -> int:
    """Run ``randbench report``; returns the exit status (0 written, 1 nothing to report)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.video_steps is not None and not args.videos:
        parser.error("--video-steps is a setting of --videos; add --videos")
    # Imported here so that `--help` and argument errors answer at once.
    import matplotlib

    matplotlib.use("Agg")  # the report's figures are files: no display, also on a headless cluster node
    from analysis.analyze import analyze
    from analysis.report import write_report

    out = args.out if args.out is not None else args.runs_dir[0] / "report"
    try:
        result = analyze(
            args.runs_dir if len(args.runs_dir) > 1 else args.runs_dir[0],
            threshold_fraction=args.threshold_fraction,
            seed=args.seed,
            k=args.last_k,
            reps=args.reps,
            conf_dir=args.conf,
            log=print,
            reference_fraction=args.ppo_fraction,
        )
    except (FileNotFoundError, ValueError, TypeError) as error:
        print(f"randbench report: {error}", file=sys.stderr)
        return 1
    notes = None
    if args.notes is not None:
        try:
            notes = args.notes.read_text()
        except OSError as error:
            print(f"randbench report: --notes {args.notes}: {error.strerror or error}", file=sys.stderr)
            return 2
    clips = clips_missing = None
    if args.videos:
        from analysis.videos import DEFAULT_VIDEO_STEPS, collect_clips

        print("collecting videos")
        clips, clips_missing = collect_clips(
            result, max_steps=args.video_steps or DEFAULT_VIDEO_STEPS, log=print
        )
    files = write_report(result, out, log=print, clips=clips, clips_missing=clips_missing)
    if args.page is not None:
        from analysis.report import write_page

        try:
            write_page(result, args.page, notes, log=print)
        except ValueError as error:
            print(f"randbench report: {error}", file=sys.stderr)
            return 2
    print(
        f"report written to {files.html.parent}: open {files.html} in a browser ({files.markdown.name} "
        f"beside it, figures in {files.html.parent / 'figures'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(report_main())
