"""The GPU path (torch): fp32 against fp16 autocast, as ClipEncoder runs it on CUDA. Ready to run as is.

For ViT-B-32 (open_clip's ``create_model("ViT-B-32", pretrained=None)``: random weights, no
download) and the bundled shapes CLIP, at batch 64, 256 and 1024 of shapes-world images put
through each model's own preprocessing: images per second of the image tower in fp32 and under
fp16 autocast (CUDA events, after warm-up, median of a few runs), and how far fp16 moves the
embeddings: the lowest and median cosine to fp32 and the share of images whose top text (against
the self-check's probe texts) is the same. Then ClipEncoder(device="cuda") end to end on the
shapes world (decode, preprocessing and cache off), against fp32 rows of the same images.

Without a CUDA device it says so in one line and exits 0; ``--cpu-dry-run`` runs the same code on
the CPU at batch 4 and 8 (where autocast_for leaves fp32 alone) to check the script, not the speed.

Run: .venv/bin/python benchmarks/bench_gpu.py [--runs 5] [--cpu-dry-run]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time

import numpy as np
import torch

from record import load, write_results

BATCHES = (64, 256, 1024)


def timed(fn, runs: int, device: str) -> float:
    """Median seconds of ``fn()`` (CUDA events, synchronised, on a GPU), after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(runs):
        if device == "cpu":
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            continue
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def models():
    import open_clip

    from drml_widgets import ClipEncoder

    torch.manual_seed(0)
    vit, _, vit_preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    yield "ViT-B-32 (random, 224 px)", vit, vit_preprocess, open_clip.get_tokenizer("ViT-B-32")
    yield "shapes CLIP (64 px)", *ClipEncoder("shapes", device="cpu", cache_dir=None).load()


def bench_model(name, model, preprocess, tokenizer, images, runs: int, device: str, batches) -> list[str]:
    from PIL import Image

    from drml_widgets.embed.backends import PROBE_TEXTS, autocast_for, channels_last

    model = model.to(device).eval()
    layout = torch.channels_last if channels_last(model, device) else torch.preserve_format
    pixels_all = torch.stack([preprocess(Image.fromarray(im)) for im in images[: max(batches)]])
    tokens = tokenizer(list(PROBE_TEXTS)).to(device)

    def encode(kind, x, half):
        with torch.inference_mode(), (autocast_for(device) if half else contextlib.nullcontext()):
            out = model.encode_image(x) if kind == "image" else model.encode_text(x)
            return torch.nn.functional.normalize(out.float(), dim=-1)

    texts = {half: encode("text", tokens, half) for half in (False, True)}
    lines = []
    for batch in batches:
        x = pixels_all[:batch].to(device, memory_format=layout)
        seconds = {half: timed(lambda half=half: encode("image", x, half), runs, device) for half in (False, True)}
        ref, half = encode("image", x, False), encode("image", x, True)
        cos = (ref * half).sum(1).cpu().numpy()
        top = ((ref @ texts[False].T).argmax(1) == (half @ texts[True].T).argmax(1)).float().mean().item()
        lines.append(f"| {name} | {batch} | {batch / seconds[False]:,.0f} | {batch / seconds[True]:,.0f} | "
                     f"{seconds[False] / seconds[True]:.2f}x | {cos.min():.5f} | {np.median(cos):.5f} | {top:.1%} |")
    return lines


def encoder_end_to_end(images, device: str) -> str:
    from drml_widgets import ClipEncoder

    enc = ClipEncoder("shapes", device=device, cache_dir=None, progress=False)
    start = time.perf_counter()
    rows = enc.encode_images(images)
    seconds = time.perf_counter() - start
    ref = ClipEncoder("shapes", device="cpu", cache_dir=None, progress=False).encode_images(images)
    cos = (rows * ref).sum(1)
    return (f"ClipEncoder('shapes', device={device!r}) on {len(images):,} images, end to end: {len(images) / seconds:,.0f} "
            f"images/s (batch {enc.batch_size}); cosine to CPU fp32 rows: min {cos.min():.5f}, median {np.median(cos):.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpu-dry-run", action="store_true", help="check the script on the CPU (no figures)")
    args = parser.parse_args()
    device, batches = ("cpu", (4, 8)) if args.cpu_dry_run else ("cuda", BATCHES)
    if device == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device visible to torch here; nothing to measure (run it on a machine with a GPU).")
        sys.exit(0)
    from drml_widgets import load_shapes_world

    at_start = load()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "none (CPU dry run: fp16 columns are fp32)"
    images = load_shapes_world(n=max(max(batches) * 4, 100), seed=0).images
    lines = ["| model | batch | fp32 images/s | fp16 autocast images/s | speed-up | min cosine to fp32 | "
             "median cosine | same top text |", "|---|---|---|---|---|---|---|---|"]
    for name, model, preprocess, tokenizer in models():
        lines += bench_model(name, model, preprocess, tokenizer, images, args.runs, device, batches)
    body = [f"GPU: {gpu}; torch {torch.__version__}, CUDA {torch.version.cuda}. Median of {args.runs} runs "
            "after warm-up (CUDA events); speed-up: fp32's time over fp16 autocast's.", "", *lines, "",
            encoder_end_to_end(images, device) + "."]
    if args.cpu_dry_run:  # a check of the script: its figures are not the GPU's, so they replace no results
        print("\n".join(body))
    else:
        write_results("bench_gpu", body, load_at_start=at_start)


if __name__ == "__main__":
    main()
