"""Command line: ``python -m drml_widgets demo`` and ``python -m drml_widgets pretrain-shapes``."""

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
        from .data.shapes_clip import pretrain_shapes_clip
        from .embed.checkpoints import SHAPES_MODEL_DIR

        report = pretrain_shapes_clip(args.out or SHAPES_MODEL_DIR, steps=args.steps, seed=args.seed)
        print(report)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
