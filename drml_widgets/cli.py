"""Command line: ``python -m drml_widgets demo``, ``pretrain-shapes`` and ``scorecard``."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from .errors import DrmlError, InputError

# The README's runs use 2,400 settings per seed; a count far past that is a typo more often than a
# plan, and would run for days before anyone noticed. Raise it here for a run that needs more.
MAX_SETTINGS = 20_000
# What Scorecard.compare reads from another run's CSV.
COMPARE_COLUMNS = ("model", "method", "kind", "precision_at_10", "exact_name", "setting")


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block): what is wrong, and the fix in it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`.\n")


def check_scorecard_args(args: argparse.Namespace):
    """Check every ``scorecard`` argument before the run; returns the ``--compare`` scorecard
    (or ``None``) or raises :class:`InputError` with what is wrong and the fix, printed as one line.

    Example:
        >>> check_scorecard_args(argparse.Namespace(settings=0, seed=0, pool_seed=0, cnn_share=0.05,
        ...                                         out="scorecard.csv", compare=None, clip="shapes"))
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: --settings: n_settings must be at least 1; got 0. Fix: e.g. --settings 24.
    """
    if args.settings < 1:
        raise InputError(f"--settings: n_settings must be at least 1; got {args.settings}. Fix: e.g. --settings 24.")
    if args.settings > MAX_SETTINGS:
        raise InputError(f"--settings {args.settings:,} is over the cap of {MAX_SETTINGS:,}. Fix: pass "
                              "fewer, e.g. --settings 2400, and run a second --seed to tighten the means.")
    for name, value in (("--seed", args.seed), ("--pool-seed", args.pool_seed)):
        if value < 0:
            raise InputError(f"{name} must be 0 or more; got {value}. Fix: e.g. {name} 1.")
    if not (math.isfinite(args.cnn_share) and 0 <= args.cnn_share <= 1):
        raise InputError(f"--cnn-share must lie in [0, 1]; got {args.cnn_share}. Fix: e.g. --cnn-share 0.05.")
    from .embed.models import resolve_model

    try:  # resolving reads configs and hashes weights, loads nothing
        resolve_model(args.clip)
    except DrmlError as exc:
        raise InputError(f"--clip: {exc}") from exc
    out = Path(args.out).expanduser()
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        why = "is a folder" if out.is_dir() else "is in a folder that does not exist" if not folder.is_dir() \
            else "is in a folder that cannot be written"
        raise InputError(f"--out {out} {why}. Fix: pass a CSV file name in a writable folder, e.g. "
                              "--out scorecard.csv.")
    return _compare_card(args.compare) if args.compare else None


def _compare_card(path: str):
    from .scorecard.run import Scorecard

    try:
        card = Scorecard.from_csv(path)
    except DrmlError as exc:
        raise InputError(f"--compare: {exc}") from exc
    except (ValueError, OSError) as exc:  # pandas' ParserError and UnicodeDecodeError are ValueErrors
        raise InputError(f"--compare {path} cannot be read as a CSV ({type(exc).__name__}). Fix: pass a file "
                              "written by `python -m drml_widgets scorecard --out FILE`.") from exc
    lacking = [c for c in COMPARE_COLUMNS if c not in card.results.columns]
    if lacking:
        raise InputError(f"--compare {path} lacks the columns {lacking} of a scorecard CSV. Fix: pass a file "
                              "written by `python -m drml_widgets scorecard --out FILE`.")
    return card


def demo_source(args: argparse.Namespace):
    """Where a demo report came from: the command that wrote it (its report path left out) and the
    notebook code that makes the same views live.

    Example:
        >>> demo_source(argparse.Namespace(n=2000, seed=0, no_ensemble=True)).command
        'python -m drml_widgets demo --n 2000 --seed 0 --no-ensemble'
    """
    from .widgets.report import ReportSource

    flag = " --no-ensemble" if args.no_ensemble else ""
    return ReportSource(f"python -m drml_widgets demo --n {args.n} --seed {args.seed}{flag}",
                        "from drml_widgets import Dashboard; from drml_widgets.demo import run_demo; "
                        f"Dashboard(run_demo(n={args.n}, seed={args.seed}, ensemble={not args.no_ensemble}).session)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m drml_widgets`` / ``drml-widgets``.

    Example (from a shell)::

        python -m drml_widgets demo --n 2000 --no-ensemble
    """
    parser = _Parser(prog="drml-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run DrML's diagnosis on the offline shapes world")
    demo.add_argument("--n", type=int, default=10_000, help="images to render (default 10000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-ensemble", action="store_true", help="skip CLIP's 80-template ensemble")
    demo.add_argument("--report", default="drml-demo-report.html",
                      help="standalone HTML report of the final state (default: drml-demo-report.html)")
    demo.add_argument("--no-report", action="store_true", help="do not write the HTML report")

    pre = sub.add_parser("pretrain-shapes", help="retrain a bundled shapes CLIP")
    pre.add_argument("--captions", choices=("exact", "noisy"), default="exact",
                     help="caption policy: exact (the 'shapes' CLIP) or noisy, human-like ('shapes-noisy')")
    pre.add_argument("--out", default=None, help="output folder (default: the policy's bundled weights)")
    pre.add_argument("--steps", type=int, default=1000)
    pre.add_argument("--seed", type=int, default=0)

    card = sub.add_parser("scorecard", help="score every failure-finding method on planted failures")
    card.add_argument("--settings", type=int, default=200,
                      help=f"planted failures to keep (default 200, at most {MAX_SETTINGS:,})")
    card.add_argument("--seed", type=int, default=0, help="draws the settings and seeds the models")
    card.add_argument("--pool-seed", type=int, default=0, help="renders the 12,000-image pool (the data set)")
    card.add_argument("--cnn-share", type=float, default=0.05, help="share planted in the example CNN")
    card.add_argument("--clip", default="shapes",
                      help="the CLIP whose embeddings the pool, probes and tags use: shapes (default) or "
                           "shapes-noisy (pretrained on human-like captions)")
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

            path = write_report(result.session, args.report, title="drml-widgets demo: DrML on the shapes world",
                                source=demo_source(args))
            print(f"\nReport (open it in a browser; no kernel or network needed): {path.resolve()}")
        return 0
    if args.command == "pretrain-shapes":
        from .jobs.pretrain_shapes_clip import pretrain_shapes_clip

        report = pretrain_shapes_clip(args.out, steps=args.steps, seed=args.seed, captions=args.captions)
        print(report)
        return 0
    if args.command == "scorecard":
        from .embed.encoder import ClipEncoder
        from .scorecard import run

        try:  # every argument, the run to compare with included, before the run: a typo costs nothing
            other = check_scorecard_args(args)
        except InputError as exc:
            card.exit(2, f"{card.prog}: error: {exc}\n")
        card = run.run_scorecard(args.settings, args.seed, pool_seed=args.pool_seed, cnn_share=args.cnn_share,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True),
                                 encoder=ClipEncoder(args.clip))
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
