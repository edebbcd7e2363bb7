"""Ray Data embedding (embed_dataset) on 2 CPU actors against single-process encode_images, same files.

Measured side by side in one run, as ratios and overhead per image (absolute times depend on the
machine and its load):

1. The shapes CLIP (64 px) on 2,000 of the world's PNG/JPEG files: a tiny model, so this is
   mostly Ray's own cost (actor start-up and model load, tasks, object transfers, Parquet shards,
   the cache fill).
2. ViT-B-32 at 224 px (random weights at real size, no download) on 384 JPEGs of 500x375 px:
   a real model's compute, against which that cost is spread.

Each case: single-process ``ClipEncoder.encode_images`` (no cache) and ``embed_dataset`` with
``num_actors=2`` into an empty cache, same batch size, both cold (the model loaded inside the
timing), then ``embed_dataset`` again (every shard already written). The same on two batches
(one per actor) shows what a run costs before it encodes much: actor processes, their imports and
model loads. Ray's own start-up (``ray.init``) is timed apart, once. The embeddings are checked to
agree within float32's epsilon.

Run: .venv/bin/python benchmarks/bench_ray_embed.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

from drml_widgets import ClipEncoder, load_shapes_world
from drml_widgets.embed.distributed import embed_dataset

sys.path.insert(0, str(Path(__file__).parent))
from bench_folder_encode import VIT, random_vit, write_files  # noqa: E402
from record import load, table, write_results  # noqa: E402

N_SHAPES, N_PHOTOS = 2000, 384


def encode_single(paths: list[str], model: str, pretrained: str | None, batch_size: int):
    start = time.perf_counter()
    out = ClipEncoder(model, pretrained, cache_dir=None, batch_size=batch_size, progress=False).encode_images(paths)
    return time.perf_counter() - start, out


def encode_ray(paths: list[str], model: str, pretrained: str | None, batch_size: int):
    """The run's time, the rerun's (every shard written), and the embeddings."""
    with tempfile.TemporaryDirectory() as cache:
        result = embed_dataset(paths, model, pretrained=pretrained, cache_dir=cache, num_actors=2,
                               batch_size=batch_size, progress=False)
        again = embed_dataset(paths, model, pretrained=pretrained, cache_dir=cache, progress=False)
        assert again.n_encoded == 0
        return result.seconds, again.seconds, result.embeddings()


def compare(label: str, paths: list[str], model: str, pretrained: str | None, batch_size: int) -> dict:
    """Cold runs of all the images, and of two batches (one per actor), which shows what a run
    costs before it encodes much: Ray's actor processes, their imports and model loads."""
    n, small = len(paths), 2 * batch_size
    t_single, single = encode_single(paths, model, pretrained, batch_size)
    t_ray, t_rerun, ray_emb = encode_ray(paths, model, pretrained, batch_size)
    t_single_small, _ = encode_single(paths[:small], model, pretrained, batch_size)
    t_ray_small, _, _ = encode_ray(paths[:small], model, pretrained, batch_size)
    gap = float(np.abs(ray_emb - single).max())
    assert gap <= np.finfo(np.float32).eps, f"{label}: Ray and single-process differ by {gap}"
    row = {"case": label, "n": n, "single_s": t_single, "ray_s": t_ray, "ratio": t_ray / t_single,
           "overhead_ms": 1000 * (t_ray - t_single) / n, "single_small_s": t_single_small,
           "ray_small_s": t_ray_small, "rerun_s": t_rerun, "max_diff": gap}
    print(f"{label}  (batch {batch_size})\n"
          f"  {n:>5} images:  single {t_single:6.1f} s   ray {t_ray:6.1f} s   ray/single {row['ratio']:.2f}x   "
          f"overhead {row['overhead_ms']:+.1f} ms/image\n"
          f"  {small:>5} images:  single {t_single_small:6.1f} s   ray {t_ray_small:6.1f} s   "
          f"ray/single {t_ray_small / t_single_small:.2f}x   (mostly start-up)\n"
          f"  rerun of the {n} (every shard written): {t_rerun:.2f} s;  max |ray - single| {gap:.1e}", flush=True)
    return row


def main() -> None:
    at_start = load()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    shapes = work / "shapes"
    load_shapes_world(n=N_SHAPES, seed=2).to_folder(shapes, image_format="mixed")
    shape_paths = sorted(str(p) for p in shapes.rglob("*") if p.suffix in (".png", ".jpg"))
    photos = work / "photos"
    photos.mkdir()
    photo_paths = [str(p) for p in write_files(photos, N_PHOTOS, photo=True)]
    weights = str(random_vit(work))

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t_init, rows = time.perf_counter() - start, []
    for case in [("shapes CLIP 64 px, PNG+JPEG", shape_paths, "shapes", None, 128),
                 ("ViT-B-32 224 px, JPEG 500x375", photo_paths, VIT, weights, 32)]:
        before = os.getloadavg()[0]
        r = compare(*case)
        rows.append([f"{r['case']}, batch {case[-1]}", r["n"], f"{r['single_s']:.1f}", f"{r['ray_s']:.1f}",
                     f"{r['ratio']:.2f}x", f"{r['overhead_ms']:+.1f}", f"{r['single_small_s']:.1f}",
                     f"{r['ray_small_s']:.1f}", f"{r['rerun_s']:.2f}", f"{r['max_diff']:.1e}",
                     f"{before:.1f} / {os.getloadavg()[0]:.1f}"])
    ray.shutdown()
    write_results("bench_ray_embed", table(
        ["case", "images", "single, s", "ray, s", "ray / single", "ms per image", "two batches: single, s",
         "ray, s", "rerun (every shard written), s", "max abs diff", "load before / after"], rows) + [
        "", f"embed_dataset on a local Ray with 2 CPU actors against single-process encode_images, both cold; "
        f"ray / single above 1: Ray is slower. ray.init took {t_init:.1f} s, once, not counted."],
        load_at_start=at_start)


if __name__ == "__main__":
    main()
