"""Zero-shot accuracy per attribute of the bundled shapes CLIPs (``shapes`` and ``shapes-noisy``).

Each CLIP tags held-out shapes (every attribute drawn uniformly, a render seed no pretraining
used) with the project's one zero-shot tagger, :func:`drml_widgets.diagnose.zero_shot.tag_attributes`,
at its defaults (its templates, the model's own logit scale, plain argmax). Per attribute: the
share of images tagged with their true value, chance (one over the number of values), the mean
confidence, and the verdict of the tagger's reliability check (``AttributeTags.reliability()``).
Position is phrased "in the upper left", as the scorecard's prompts write it.

The table is printed and written to benchmarks/results/clip_zero_shot.md.

Run: .venv/bin/python benchmarks/clip_zero_shot.py [--n 3000] [--seed 123]
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import pandas as pd

from drml_widgets import ClipEncoder
from drml_widgets.data.shapes import ATTRIBUTES, render_table, sample_attributes
from drml_widgets.diagnose.zero_shot import tag_attributes
from drml_widgets.prompts.generate import AttributeSet

RESULTS = Path(__file__).parent / "results" / "clip_zero_shot.md"
CLIPS = ("shapes", "shapes-noisy")
ATTRIBUTE_SET = AttributeSet({t: list(v) for t, v in ATTRIBUTES.items()},
                             phrases={"position": {p: f"in the {p}" for p in ATTRIBUTES["position"]}})


def measure(clip: str, table: pd.DataFrame, images) -> pd.DataFrame:
    """One row per attribute: accuracy, chance, mean confidence and the reliability verdict."""
    encoder = ClipEncoder(clip)
    tags = tag_attributes(encoder.encode_images(images), ATTRIBUTE_SET, encoder)
    check = tags.reliability().table.set_index("type")
    rows = []
    for t in ATTRIBUTE_SET.types:
        rows.append({"clip": clip, "attribute": t,
                     "accuracy": float((tags.values[t].to_numpy() == table[t].to_numpy()).mean()),
                     "chance": 1 / len(ATTRIBUTE_SET.values[t]),
                     "mean_confidence": float(tags.confidence[t].mean()),
                     "reliability": "reliable" if check.loc[t, "reliable"] else f"unreliable: {check.loc[t, 'why']}"})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (its index as the first column when named)."""
    frame = frame.reset_index() if frame.index.name else frame
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="held-out images (default 3000)")
    parser.add_argument("--seed", type=int, default=123, help="draws and renders them (default 123)")
    args = parser.parse_args()
    table = sample_attributes(args.n, seed=args.seed)
    images = render_table(table, seed=args.seed)
    result = pd.concat([measure(clip, table, images) for clip in CLIPS], ignore_index=True)
    wide = result.pivot(index="attribute", columns="clip", values="accuracy").reindex(ATTRIBUTE_SET.types)[list(CLIPS)]
    wide.insert(0, "chance", [1 / len(ATTRIBUTE_SET.values[t]) for t in wide.index])
    text = "\n".join([
        "# Zero-shot accuracy per attribute of the bundled shapes CLIPs", "",
        f"{datetime.date.today()}; `{Path(__file__).name} --n {args.n} --seed {args.seed}` "
        f"({args.n} held-out uniform shapes). The tagger is `diagnose.zero_shot.tag_attributes` at its "
        "defaults (argmax, the model's own logit scale). `shapes` was pretrained on exact captions, "
        "`shapes-noisy` on human-like ones (`python -m drml_widgets pretrain-shapes --captions noisy`; "
        "rates in `drml_widgets/jobs/captions.py`).", "",
        "Accuracy (share of images tagged with their true value):", "",
        markdown(wide), "",
        "Every figure, with the mean confidence and the tagger's reliability check:", "",
        markdown(result), "",
    ])
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
