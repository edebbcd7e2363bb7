"""The CPU backends against open_clip itself, side by side in one process (ratios, not absolute times).

1. Images already decoded: ViT-B-32 (random weights, 224 px), batch 32 of preprocessed pixels.
   open_clip's own ``model.encode_image`` in fp32 against each backend's image tower on the same
   tensor; the order alternates every round, and the ratio is taken per round (median reported).
   Also the lowest cosine of any embedding (the batch and the probe texts) to fp32. Bar: >= 2.0x,
   min cosine >= 0.999.
2. From files (decode included): 256 JPEGs (500x375) per round, fresh files each round so nothing
   is served from a cache. open_clip's own loop (PIL open, its own preprocessing, encode_image per
   batch of 32) against ``ClipEncoder(..., backend=b, batch_size=32).encode_images(paths)`` with an
   encoder that has passed its self-check already (the steady state of a large folder); the first
   call of a fresh encoder, self-check included, is reported apart. Bar: >= 1.8x.
3. The shapes CLIP: the demo's slice table (``Session.from_shapes_world().find_slices(["color",
   "shape"]).table``) in the same order with each backend as with torch.

The table is printed and written to benchmarks/results/bench_encode.md with the date, the machine
and its load (the other users of the machine's cores are named there, not subtracted).

Run: .venv/bin/python benchmarks/bench_encode.py [--rounds 7] [--file-rounds 3] [--skip-shapes]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from drml_widgets import ClipEncoder, Session, load_shapes_world
from drml_widgets.embed.backends import Backend, probe_inputs
from drml_widgets.embed.onnx_backend import export_folder
from record import load, write_results

FAST = ("onnx", "onnx-int8")
BATCH = 32
N_FILES = 256
PHOTO_SIZE = (500, 375)


def random_vit(folder: Path) -> Path:
    """ViT-B-32 built by open_clip with random weights (no download), saved for ClipEncoder."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    path = folder / "vit-b-32-random.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def photos(n: int, seed: int) -> list[Image.Image]:
    world = load_shapes_world(n=max(n, 100), seed=seed)
    return [Image.fromarray(im).resize(PHOTO_SIZE, Image.BILINEAR) for im in world.images[:n]]


def side_by_side(fns: dict, rounds: int, before_round=lambda r: None) -> dict[str, list[float]]:
    """Seconds of each callable per round, the order reversed every other round."""
    times = {name: [] for name in fns}
    for r in range(rounds):
        before_round(r)
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def ratios(times: dict[str, list[float]], base: str) -> dict[str, float]:
    """Median over rounds of base's time / each one's time in the same round."""
    return {name: statistics.median(b / t for b, t in zip(times[base], ts)) for name, ts in times.items()}


def decoded(weights: Path, cache: Path, rounds: int) -> list[str]:
    enc = ClipEncoder("ViT-B-32", pretrained=weights, device="cpu", cache_dir=cache)
    model, preprocess, tokenizer = loaded = enc.load()
    pixels = torch.stack([preprocess(im) for im in photos(BATCH, seed=1)])
    probes = probe_inputs(preprocess, tokenizer)

    def fp32(kind, x):
        with torch.inference_mode():
            return torch.nn.functional.normalize(getattr(model, f"encode_{kind}")(x), dim=-1).numpy()

    towers = {}
    for name in FAST:
        backend = Backend(name, "cpu")
        start = time.perf_counter()
        towers[name] = backend.build(loaded, probes, backend.folder(cache, enc.spec.identity), enc.spec.identity)
        print(f"  {name}: towers ready in {time.perf_counter() - start:.1f} s (exported once, then reused)")
    fns = {"open_clip fp32": lambda: fp32("image", pixels)}
    fns.update({name: (lambda t=t: t.encode("image", pixels)) for name, t in towers.items()})
    times = side_by_side(fns, rounds)
    ratio = ratios(times, "open_clip fp32")
    reference = {kind: fp32(kind, x) for kind, x in (("image", pixels), ("text", probes[1]))}
    lines = ["| backend | ms per batch of 32 (median) | images/s | ratio to open_clip fp32 (median) | "
             "min cosine, images | min cosine, texts |", "|---|---|---|---|---|---|"]
    for name, ts in times.items():
        cos = {kind: (float(np.min(np.sum(ref * towers[name].encode(kind, x), 1))) if name in towers else 1.0)
               for (kind, ref), x in zip(reference.items(), (pixels, probes[1]))}
        lines.append(f"| {name} | {statistics.median(ts) * 1000:.0f} | {BATCH / statistics.median(ts):.1f} | "
                     f"{ratio[name]:.2f}x | {cos['image']:.5f} | {cos['text']:.5f} |")
    return lines


def open_clip_loop(model, preprocess, paths: list[Path]) -> np.ndarray:
    """What an open_clip user writes: open, preprocess, stack, encode, batch after batch."""
    out = []
    for i in range(0, len(paths), BATCH):
        pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[i: i + BATCH]])
        with torch.inference_mode():
            out.append(torch.nn.functional.normalize(model.encode_image(pixels), dim=-1).numpy())
    return np.concatenate(out)


def from_files(weights: Path, cache: Path, rounds: int, folder: Path) -> list[str]:
    def encoder(backend, role):
        """An encoder with a cache of its own (no contender serves another's rows), sharing part 1's exports."""
        root = cache.parent / f"cache-{backend}-{role}"
        enc = ClipEncoder("ViT-B-32", pretrained=weights, device="cpu", cache_dir=root, batch_size=BATCH,
                          backend=backend, progress=False)
        mine = export_folder(root, enc.spec.identity)
        if not mine.exists():
            mine.parent.mkdir(parents=True, exist_ok=True)
            mine.symlink_to(export_folder(cache, enc.spec.identity), target_is_directory=True)
        return enc

    sets = []
    for r in range(rounds + 2):  # one set per round, one to warm up, one for the first calls
        paths = []
        for i, im in enumerate(photos(N_FILES, seed=100 + r)):
            paths.append(folder / f"r{r}-{i:04d}.jpg")
            im.save(paths[-1], quality=90)
        sets.append(paths)
    model, preprocess, _ = encoder("torch", "reference").load()
    encoders = {name: encoder(name, "rounds") for name in ("torch", *FAST)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cost estimate of the first batch
        first = {}
        for name in FAST:  # a fresh encoder's first call: self-check on the first batch, then the rest
            fresh = encoder(name, "first-call")
            start = time.perf_counter()
            fresh.encode_images(sets[-1])
            first[name] = (time.perf_counter() - start, fresh.backend_check)
            encoders[name].encode_images(sets[-2])  # the steady-state encoders pass their check here
        current = {}
        fns = {"open_clip loop": lambda: open_clip_loop(model, preprocess, current["paths"])}
        fns.update({f"ClipEncoder {name}": (lambda e=e: e.encode_images(current["paths"])) for name, e in encoders.items()})
        times = side_by_side(fns, rounds, lambda r: current.update(paths=sets[r]))
    reference = open_clip_loop(model, preprocess, sets[0])
    ratio = ratios(times, "open_clip loop")
    lines = [f"| {N_FILES} JPEG files, batch {BATCH} | s (median) | images/s | ratio to open_clip's loop (median) | "
             "min cosine to fp32 | self-check |", "|---|---|---|---|---|---|"]
    for name, ts in times.items():
        backend = name.split()[-1]
        enc = encoders.get(backend)
        cos = float(np.min(np.sum(reference * enc.encode_images(sets[0]), 1))) if enc else 1.0
        check = f"{enc.backend}: {enc.backend_check}" if enc and enc.backend_check else ""
        lines.append(f"| {name} | {statistics.median(ts):.2f} | {N_FILES / statistics.median(ts):.1f} | "
                     f"{ratio[name]:.2f}x | {cos:.5f} | {check} |")
    base = statistics.median(times["open_clip loop"])
    for name, (seconds, check) in first.items():
        lines.append(f"| first call of a fresh {name} encoder (self-check included) | {seconds:.2f} | "
                     f"{N_FILES / seconds:.1f} | {base / seconds:.2f}x (against the median loop) | | "
                     f"{'passed' if check.passed else 'fell back'} |")
    return lines


def shapes_tables(cache: Path) -> list[str]:
    tables = {}
    for name in ("torch", *FAST):
        encoder = ClipEncoder("shapes", cache_dir=cache, backend=name, progress=False)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = Session.from_shapes_world(encoder=encoder).find_slices(["color", "shape"]).table
        tables[name] = (table, encoder, time.perf_counter() - start)
    reference = tables["torch"][0]
    order = list(zip(reference["color"], reference["shape"]))
    lines = ["| shapes CLIP, 10,000 images | slices | same order as torch | max abs change in text_prob | "
             "backend used | session + table, s (cold cache) |", "|---|---|---|---|---|---|"]
    for name, (table, encoder, seconds) in tables.items():
        same = list(zip(table["color"], table["shape"])) == order
        change = float(np.max(np.abs(table["text_prob"].to_numpy() - reference["text_prob"].to_numpy())))
        lines.append(f"| {name} | {len(table)} | {'yes' if same else 'NO'} | {change:.2e} | {encoder.backend} | "
                     f"{seconds:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of part 1 (one batch each)")
    parser.add_argument("--file-rounds", type=int, default=3, help="rounds of part 2 (256 files each)")
    parser.add_argument("--skip-shapes", action="store_true")
    args = parser.parse_args()
    at_start = load()
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        tmp = Path(tmp)
        (tmp / "files").mkdir()
        weights = random_vit(tmp)
        sections = [("1. ViT-B-32, 224 px, images already decoded", decoded(weights, tmp / "cache", args.rounds)),
                    ("2. ViT-B-32 from files, decode included", from_files(weights, tmp / "cache", args.file_rounds,
                                                                           tmp / "files"))]
        if not args.skip_shapes:
            sections.append(("3. The demo's slice table on the shapes CLIP", shapes_tables(tmp / "shapes-cache")))
    body = []
    for title, lines in sections:
        body += [f"## {title}", "", *lines, ""]
    body.append(f"Ratios are medians of per-round ratios ({args.rounds} rounds in part 1, {args.file_rounds} in "
                "part 2), the order of the contenders alternating each round; every figure shares the machine "
                "with whatever else ran.")
    write_results("bench_encode", body, load_at_start=at_start)


if __name__ == "__main__":
    main()
