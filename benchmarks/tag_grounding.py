"""The tag reliability check on both bundled shapes CLIPs, without true values and grounded by them.

Held-out shapes (every attribute drawn uniformly, a render seed no pretraining used) are tagged
zero-shot with every attribute type (``diagnose.zero_shot.tag_attributes`` at its defaults), and
the tags pass ``AttributeTags.reliability(known=...)`` three ways: no true values (the
ground-truth-free check), the class known (``shape``, as a session knows its labels), and every
type known (metadata for all). Per type: the margin over chance, the accuracy on known rows
and its chance-corrected value, and the verdict.

The table is printed and written to benchmarks/results/tag_grounding.md (benchmarks/record.py).

Run: .venv/bin/python benchmarks/tag_grounding.py [--n 3000] [--seed 123]
"""

from __future__ import annotations

import argparse

import pandas as pd
from clip_zero_shot import ATTRIBUTE_SET, CLIPS
from record import frame_table, load, write_results

from drml_widgets import ClipEncoder
from drml_widgets.data.shapes import render_table, sample_attributes
from drml_widgets.diagnose.zero_shot import tag_attributes

KNOWN = {"none": [], "class (shape)": ["shape"], "every type": list(ATTRIBUTE_SET.types)}


def measure(clip: str, table: pd.DataFrame, images) -> pd.DataFrame:
    """One row per (true values given, type): margin, accuracy where known, verdict."""
    encoder = ClipEncoder(clip)
    tags = tag_attributes(encoder.encode_images(images), ATTRIBUTE_SET, encoder)
    rows = []
    for given, columns in KNOWN.items():
        check = tags.reliability(known=table[columns] if columns else None).table
        for r in check.itertuples():
            rows.append({"clip": clip, "known": given, "type": r.type, "margin": r.margin,
                         "accuracy": r.accuracy, "over_chance": r.accuracy_over_chance,
                         "verdict": "reliable" if r.reliable else f"unreliable: {r.why}"})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="held-out images (default 3000)")
    parser.add_argument("--seed", type=int, default=123, help="draws and renders them (default 123)")
    args = parser.parse_args()
    started = load()
    table = sample_attributes(args.n, seed=args.seed)
    result = pd.concat([measure(clip, table, render_table(table, seed=args.seed)) for clip in CLIPS],
                       ignore_index=True)
    write_results("tag_grounding", [
        f"{args.n} held-out uniform shapes (render seed {args.seed}), tagged by `tag_attributes` at its defaults. "
        "`known`: the types whose true values the check was given. A grounded type is unreliable when its "
        "chance-corrected accuracy (`over_chance`) is below 0.5; an ungrounded one when its margin is, or when it "
        "stands in for another.", "", *frame_table(result.round(3)),
    ], load_at_start=started)


if __name__ == "__main__":
    main()
