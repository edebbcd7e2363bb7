"""Encoding a folder of image files, measured side by side in one run (ratios, not absolute times).

1. Folder encode, ViT-B-32 at 224 px on the CPU (random weights at real size, no download):
   ClipEncoder.encode_images on JPEG paths (hash, decode, preprocess, model, cache write) against
   open_clip's encode_image on the same images already decoded and preprocessed, same batches.
   Also ClipEncoder with nothing decoded ahead (PREFETCH_BATCHES = 0), to show what overlap buys.
   Goal: raw / ClipEncoder >= 0.9, i.e. decoding hidden behind the model.
2. The same folder again, through the cache (a new encoder, same cache folder). Goal: >= 100x.
3. Peak memory above the loaded model while encoding N files, each N in a fresh process:
   the shapes CLIP (64 px) on 1,000 and 10,000 PNG files, and ViT-B-32 on 100 and 400 JPEG files
   at batch 32; with glibc's defaults and with its mmap threshold fixed (see FIXED_MMAP_THRESHOLD).
   Goal: flat in N.

The JPEGs are shapes-world images upscaled to 500x375 (a typical photo's size, so decoding is not
free); the PNGs are the world's own 64-px images.

Run: .venv/bin/python benchmarks/bench_folder_encode.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from drml_widgets import ClipEncoder, load_shapes_world
from drml_widgets.embed import encoder as encoder_module
from record import load, table, write_results

N_FOLDER = 192
REPEATS = 3
PHOTO_SIZE = (500, 375)
VIT = "ViT-B-32-quickgelu"
MEMORY_RUNS = [("shapes", 1_000, 512), ("shapes", 10_000, 512), (VIT, 100, 32), (VIT, 400, 32)]
# glibc raises its mmap threshold each time a large block is freed, after which batch-sized
# buffers come from the heap and fragment it: RSS creeps up with the number of batches although
# nothing is kept. Fixing the threshold shows what the encoder itself holds.
FIXED_MMAP_THRESHOLD = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def write_files(folder: Path, n: int, photo: bool) -> list[Path]:
    world = load_shapes_world(n=n, seed=1)
    paths = []
    for i, img in enumerate(world.images):
        path = folder / f"{i:05d}.{'jpg' if photo else 'png'}"
        image = Image.fromarray(img)
        if photo:
            image.resize(PHOTO_SIZE, Image.BILINEAR).save(path, quality=90)
        else:
            image.save(path)
        paths.append(path)
    return paths


def random_vit(folder: Path) -> Path:
    """A ViT-B-32 checkpoint with random weights: the same compute as OpenAI's, no download."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = folder / "vit-b-32-random.safetensors"
    save_file({k: v.contiguous() for k, v in open_clip.create_model(VIT).state_dict().items()}, str(path))
    return path


def timed(fn) -> tuple[float, float, object]:
    """Wall time, CPU time of the whole process (every thread), and the result."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def folder_and_cache(tmp: Path) -> list[str]:
    paths = write_files(tmp, N_FOLDER, photo=True)
    ckpt = random_vit(tmp)
    encoders = [ClipEncoder(VIT, pretrained=ckpt, cache_dir=tmp / f"cache{r}", progress=False) for r in range(REPEATS)]
    model, preprocess, _ = encoders[0].load()
    batch = encoders[0].batch_size
    pixels = [torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[i: i + batch]])
              for i in range(0, len(paths), batch)]

    def raw() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for x in pixels:
                out.append(torch.nn.functional.normalize(model.encode_image(x).float(), dim=-1).numpy())
        return np.concatenate(out)

    def not_overlapped(enc: ClipEncoder) -> float:
        encoder_module.PREFETCH_BATCHES, saved = 0, encoder_module.PREFETCH_BATCHES
        try:
            return timed(lambda: enc.encode_images(paths))[:2]
        finally:
            encoder_module.PREFETCH_BATCHES = saved

    serial = ClipEncoder(VIT, pretrained=ckpt, cache_dir=None, progress=False)
    for enc in [*encoders, serial]:  # each loads its model and pays its first call's one-off costs now
        enc.encode_texts("warm-up.")
    raw()
    t_raw, t_ours, t_serial = [], [], []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Encoding .* not yet cached")  # the point of this script
        for enc in encoders:  # interleaved, so that load from other processes hits all three alike
            *t, direct = timed(raw)
            t_raw.append(t)
            *t, ours = timed(lambda: enc.encode_images(paths))
            t_ours.append(t)
            t_serial.append(not_overlapped(serial))
            assert np.allclose(direct, ours, atol=1e-4)
    rows = []
    for what, k in (("wall", 0), ("CPU, all threads", 1)):
        r, o, s = (min(t[k] for t in ts) for ts in (t_raw, t_ours, t_serial))
        rows.append([what, f"{r:.1f}", f"{o:.1f}", f"{r / o:.2f}", f"{s:.1f}", f"{r / s:.2f}"])

    again = ClipEncoder(VIT, pretrained=ckpt, cache_dir=tmp / "cache0", progress=False)
    t_cached, _, cached = timed(lambda: again.encode_images(paths))
    assert not again.is_loaded and np.allclose(cached, ours, atol=1e-6)
    return [f"{N_FOLDER} JPEGs {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, ViT-B-32 224 px, CPU, batch {batch}, best of {REPEATS} "
            "(goal: ratio >= 0.9, decoding hidden behind the model):", "",
            *table(["time", "open_clip on pre-decoded tensors, s", "ClipEncoder from files, s", "ratio",
                    "decoding not overlapped (PREFETCH_BATCHES = 0), s", "ratio"], rows), "",
            f"Second run through the cache: {t_cached:.3f} s against {t_ours[0][0]:.1f} s for the first, "
            f"{t_ours[0][0] / t_cached:.0f}x faster (goal >= 100x)."]


def peak_growth(model: str, n: int, batch: int, tmp: Path) -> dict:
    """In this process: RSS above the loaded model at its highest while encoding n files."""
    photo = model != "shapes"
    paths = write_files(tmp, n, photo=photo)
    pretrained = random_vit(tmp) if photo else None
    enc = ClipEncoder(model, pretrained=pretrained, cache_dir=None, batch_size=batch, progress=False)
    enc.encode_images(paths[:batch])  # load and warm up: allocator pools, one batch of activations

    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096

    base, peak, done = rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        enc.encode_images(paths)
    finally:
        done.set()
        watcher.join()
    return {"growth_mb": (max(peak[0], rss()) - base) / 2**20}


def memory() -> list[str]:
    rows = []
    for model, n, batch in MEMORY_RUNS:
        growth = []
        for env in ({}, FIXED_MMAP_THRESHOLD):
            out = subprocess.run([sys.executable, __file__, "--memory", model, str(n), str(batch)],
                                 check=True, capture_output=True, text=True, env={**os.environ, **env}).stdout
            growth.append(json.loads(out.strip().splitlines()[-1])["growth_mb"])
        name = "shapes CLIP 64 px" if model == "shapes" else "ViT-B-32 224 px"
        rows.append([name, f"{n:,}", batch, f"+{growth[0]:.0f}", f"+{growth[1]:.0f}"])
    return table(["model", "files", "batch", "glibc default, MB", "mmap threshold fixed, MB"], rows)


def main() -> None:
    if sys.argv[1:2] == ["--memory"]:
        model, n, batch = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(peak_growth(model, n, batch, Path(tmp))))
        return
    at_start = load()
    with tempfile.TemporaryDirectory() as tmp:
        encode = folder_and_cache(Path(tmp))
    write_results("bench_folder_encode", [
        "## 1-2. Folder encode and the cache", "", *encode, "",
        "Ratio: open_clip's time over ClipEncoder's; 1 means decoding from files costs nothing on top.", "",
        "## 3. Peak memory above the loaded model, each in a fresh process (goal: flat in the number of files)", "",
        *memory()], load_at_start=at_start)


if __name__ == "__main__":
    main()
