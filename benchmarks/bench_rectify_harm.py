"""What rectifying the failing slices costs the slices it does not target (issue 25), on both
bundled CLIPs, without and with the guard (``session.rectify(..., guard=False)`` against the
default).

Each world is the shapes world with a planted shortcut, at seeds 0 and 1:

- ``dSpritesV``: the paper's split (orange triangles, green squares; bias 1.0);
- ``pair c1/c2``: the same split with another colour pair, near colours included (cyan/blue,
  pink/red), triangles of c1 and squares of c2;
- ``Waterbirds-like pair cyan/blue``: that pair at bias 0.95 with the shape harder to see
  (shape_scale 0.75, noise 20);
- ``Waterbirds-like correlation cyan``: every colour in training, but cyan is 95% triangles.

On each, ``find_failing_slices(["color", "shape"])`` at its defaults picks the targets and
``rectify`` runs at its defaults; every slice's accuracy is read on the TEST images before and
after. Columns: the targeted slices' accuracy before -> after, the largest drop on any
untargeted slice and which, and the slices the rectification's own cost check names (read
before the head changes, on validation images or held-out prompts).

Run: .venv/bin/python benchmarks/bench_rectify_harm.py [--n 6000] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from drml_widgets import ClipEncoder, Session
from drml_widgets.data.shapes import WATERBIRDS_LIKE, load_shapes_world
from drml_widgets.data.shapes_presets import LABEL_RULE, SHAPES_ATTRIBUTES, SLICE_BY, shapes_prompt_spec
from drml_widgets.embed.identity import keyed_images
from record import load, table, write_results

WORLDS = [("dSpritesV", None, None, 1.0, False), ("pair cyan/blue", "pair", ("cyan", "blue"), 1.0, False),
          ("pair pink/red", "pair", ("pink", "red"), 1.0, False),
          ("Waterbirds-like pair cyan/blue", "pair", ("cyan", "blue"), 0.95, True),
          ("Waterbirds-like correlation cyan", "correlation", ("cyan",), 0.95, True)]


def planted_split(table: pd.DataFrame, kind: str, colors: tuple, p: float, seed: int) -> pd.Series:
    """train/val/test per row: ``pair`` keeps triangles of colors[0] and squares of colors[1]
    (1 - p of the other pairing); ``correlation`` draws a uniform 35% but keeps cyan squares to
    1 - p of cyan's rows; 20% of the chosen rows validate, the rest is test."""
    rng = np.random.default_rng(seed + 101)
    tri, sq = table["shape"] == "triangle", table["shape"] == "square"
    if kind == "pair":
        major = tri & (table["color"] == colors[0]) | sq & (table["color"] == colors[1])
        minor = tri & (table["color"] == colors[1]) | sq & (table["color"] == colors[0])
        chosen = major & (rng.random(len(table)) < 0.8) | minor & (rng.random(len(table)) < 0.8 * (1 - p) / p)
    else:
        rare = sq & (table["color"] == colors[0])
        chosen = ~rare & (rng.random(len(table)) < 0.35) | rare & (rng.random(len(table)) < 0.35 * (1 - p) / p)
    split = np.full(len(table), "test", dtype=object)
    rows = rng.permutation(np.flatnonzero(chosen.to_numpy()))
    split[rows[: len(rows) // 5]], split[rows[len(rows) // 5:]] = "val", "train"
    return pd.Series(split, index=table.index)


def world_session(encoder, kind, colors, p, hard, seed: int, n: int) -> Session:
    world = load_shapes_world(n=n, seed=seed, **({k: v for k, v in WATERBIRDS_LIKE.items() if k != "bias"} if hard else {}))
    table = world.table.copy()
    if kind is not None:
        table["split"] = planted_split(table, kind, colors, p, seed)
    emb = encoder.encode_images(keyed_images(world.pixels, world.pixels.ids()))
    session = Session(encoder, emb, table, world.classes, SHAPES_ATTRIBUTES, shapes_prompt_spec(True), LABEL_RULE,
                      images=world.pixels, seed=seed)
    session.train_head()
    return session


def name(row) -> str:
    return f"{row['color']} {row['shape']}"


def measure(session: Session, failing: pd.DataFrame, guard: bool) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = session.rectify(failing, guard=guard)
    image = result.image
    t, o = image[image["targeted"]], image[~image["targeted"]]
    worst = o.loc[o["delta"].idxmin()]
    named = result.cost[result.cost["harmed"]]
    session.undo()
    return {"targets": ", ".join(f"{name(r)} {r['image_acc_before']:.2f}->{r['image_acc_after']:.2f}"
                                 for _, r in t.iterrows()),
            "worst": f"{-100 * worst['delta']:.1f} ({name(worst)} {worst['image_acc_before']:.2f})",
            "named": "; ".join(f"{name(r)} -{100 * r['drop']:.0f} ({r['source']})" for _, r in named.iterrows()) or "none",
            "guarded": ", ".join(name(r) for _, r in result.cost[result.cost["guarded"]].iterrows()) or "none",
            "warned": sum("Rectifying costs" in str(w.message) for w in caught)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    start_load = load()
    body = []
    for clip in ("shapes", "shapes-noisy"):
        encoder = ClipEncoder(clip)
        rows = []
        for label, kind, colors, p, hard in WORLDS:
            for seed in args.seeds:
                session = world_session(encoder, kind, colors, p, hard, seed, args.n)
                failing = session.find_failing_slices(SLICE_BY).table
                if not len(failing):
                    rows.append([label, seed, "nothing failing", "", "", "", "", "", ""])
                    continue
                off, on = measure(session, failing, guard=False), measure(session, failing, guard=True)
                rows.append([label, seed, off["targets"], off["worst"], off["named"], on["targets"], on["worst"],
                             on["guarded"], on["named"] + (" (warned)" if on["warned"] else "")])
                print(clip, rows[-1], flush=True)
        body += [f"## CLIP `{clip}`", "", *table(
            ["world", "seed", "unguarded: targeted (test acc before->after)", "largest drop elsewhere, points (slice, acc before)",
             "cost check names (val drop)", "guarded: targeted", "largest drop elsewhere", "slices guarded",
             "still over bound after the guard"], rows), ""]
    write_results("bench_rectify_harm", body, load_at_start=start_load)


if __name__ == "__main__":
    main()
