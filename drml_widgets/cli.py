"""Command line: ``python -m drml_widgets demo``, ``pretrain-shapes`` and ``scorecard``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m drml_widgets`` / ``drml-widgets``.

    Example (from a shell)::

        python -m drml_widgets demo --n 2000 --no-ensemble
    """
    parser = argparse.ArgumentParser(prog="drml-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run DrML's diagnosis on the offline shapes world")
    demo.add_argument("--n", type=int, default=10_000, help="images to render (default 10000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-ensemble", action="store_true", help="skip CLIP's 80-template ensemble")
    demo.add_argument("--report", default="drml-demo-report.html",
                      help="standalone HTML report of the final state (default: drml-demo-report.html)")
    demo.add_argument("--no-report", action="store_true", help="do not write the HTML report")

    pre = sub.add_parser("pretrain-shapes", help="retrain the bundled shapes CLIP")
    pre.add_argument("--out", default=None, help="output folder (default: the bundled weights)")
    pre.add_argument("--steps", type=int, default=1000)
    pre.add_argument("--seed", type=int, default=0)

    card = sub.add_parser("scorecard", help="score every failure-finding method on planted failures")
    card.add_argument("--settings", type=int, default=200, help="planted failures to keep (default 200)")
    card.add_argument("--seed", type=int, default=0, help="draws the settings and seeds the models")
    card.add_argument("--pool-seed", type=int, default=0, help="renders the 12,000-image pool (the data set)")
    card.add_argument("--cnn-share", type=float, default=0.05, help="share planted in the example CNN")
    card.add_argument("--out", default="scorecard.csv", help="CSV of every setting and method")
    card.add_argument("--compare", default=None, metavar="CSV",
                      help="another run's CSV (a second seed): print every mean beside it, largest difference first")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        result = run_demo(n=args.n, seed=args.seed, ensemble=not args.no_ensemble)
        print(result.summary())
        if not args.no_report:
            from .widgets import write_report

            path = write_report(result.session, args.report, title="drml-widgets demo: DrML on the shapes world")
            print(f"\nReport (open it in a browser; no kernel or network needed): {path.resolve()}")
        return 0
    if args.command == "pretrain-shapes":
        from .jobs.pretrain_shapes_clip import pretrain_shapes_clip
        from .embed.checkpoints import SHAPES_MODEL_DIR

        report = pretrain_shapes_clip(args.out or SHAPES_MODEL_DIR, steps=args.steps, seed=args.seed)
        print(report)
        return 0
    if args.command == "scorecard":
        from .scorecard.run import Scorecard, run_scorecard

        # Read the run to compare with first: a wrong path should not cost a whole run.
        other = Scorecard.from_csv(args.compare) if args.compare else None
        card = run_scorecard(args.settings, args.seed, pool_seed=args.pool_seed, cnn_share=args.cnn_share,
                             progress=lambda line: print(line, file=sys.stderr, flush=True))
        print(card, card.dropped(), "Mean seconds per setting:", card.timings(),
              "Head settings whose planted slice failing_slices flags (adaptive default), by kind:",
              card.adaptive().to_string(),
              "Misses (no exact name) whose named slice still fails by 30 points, by method and kind:",
              card.misses().to_string(), sep="\n\n")
        print(f"\nWrote {card.to_csv(args.out).resolve()}")
        if other is not None:
            diff = card.compare(other)
            print(f"\nEvery mean beside {args.compare} ({int(diff['within'].sum())} of {len(diff)} within 0.05; "
                  "se_difference: the difference chance alone gives, one standard error):",
                  diff.to_string(), sep="\n")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
