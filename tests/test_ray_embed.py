"""embed_dataset on a local two-CPU Ray: the single-process encoder's embeddings, the shared
cache filled, a killed run resumed shard by shard, and errors that name the file."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import ray

from drml_widgets.data import load_shapes_world
from drml_widgets.embed import ClipEncoder
from drml_widgets.embed.distributed import embed_dataset, source_paths
from drml_widgets.errors import EmptyInputError, ImageLoadError, InputError, MissingExtraError, UnknownModelError

N_IMAGES = 2000
# The Ray actors run the encoder's own preprocessing and model, but on batches cut elsewhere than
# the single-process encoder's, and torch's CPU kernels may then add up in another order: rows
# (unit length) can differ in the last bit, never by more than float32's machine epsilon.
EPS = float(np.finfo(np.float32).eps)
RUN = dict(num_actors=2, batch_size=100, progress=False)


@pytest.fixture(scope="module")
def cluster():
    # Ray gives its raylet a fixed 30 s to register; on a busy machine that can pass, so start again.
    for attempt in range(3):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception as exc:  # Ray raises a bare Exception for this timeout
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return load_shapes_world(n=N_IMAGES, seed=5).to_folder(tmp_path_factory.mktemp("world"), image_format="mixed")


@pytest.fixture(scope="module")
def paths(folder):
    return source_paths(folder)


@pytest.fixture(scope="module")
def reference(paths):
    return ClipEncoder("shapes", cache_dir=None, progress=False).encode_images(paths)


@pytest.fixture(scope="module")
def first_run(cluster, folder, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, embed_dataset(folder, "shapes", cache_dir=cache, shard_rows=500, **RUN)


def test_embeddings_match_the_single_process_encoder(first_run, paths, reference):
    _, result = first_run
    assert (result.n_images, result.n_encoded, result.n_from_cache, result.shards_written) == (N_IMAGES, N_IMAGES, 0, 4)
    assert result.table()["path"].tolist() == paths  # input order
    np.testing.assert_allclose(result.embeddings(), reference, rtol=0, atol=EPS)
    assert "2000 images: 0 from cache, 2000 encoded" in repr(result)


def test_a_second_run_and_the_encoder_read_everything_from_the_cache(first_run, folder, paths):
    cache, result = first_run
    again = embed_dataset(folder, "shapes", cache_dir=cache, shard_rows=500, **RUN)
    assert (again.n_encoded, again.n_from_cache, again.shards_written, again.shards_reused) == (0, N_IMAGES, 0, 4)
    np.testing.assert_array_equal(again.embeddings(), result.embeddings())
    encoder = ClipEncoder("shapes", cache_dir=cache, progress=False)
    np.testing.assert_array_equal(encoder.encode_images(paths), result.embeddings())
    assert not encoder.is_loaded  # every image came from the cache that embed_dataset filled


def test_without_its_shards_a_run_takes_rows_from_the_embedding_cache(first_run, paths, tmp_path):
    cache, result = first_run
    again = embed_dataset(paths[:300], "shapes", cache_dir=cache, output_dir=tmp_path, shard_rows=150, **RUN)
    assert (again.n_encoded, again.n_from_cache, again.shards_written) == (0, 300, 2)
    np.testing.assert_array_equal(again.embeddings(), result.embeddings()[:300])


KILLED_RUN = textwrap.dedent("""
    import json, sys, time
    import ray
    from drml_widgets.embed.distributed import embed_dataset

    address, paths, cache, out = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
    ray.init(address=address, log_to_driver=False)
    written = []

    def on_shard(path):
        written.append(path)
        if len(written) == 2:
            time.sleep(3600)  # hold here until the test kills this process

    embed_dataset(paths, "shapes", cache_dir=cache, output_dir=out, shard_rows=100, num_actors=2,
                  batch_size=50, progress=False, on_shard=on_shard)
""")


def test_a_killed_run_resumes_without_recomputing_its_shards_or_reading_a_damaged_one(
        cluster, paths, reference, tmp_path):
    subset, cache, out = paths[:600], tmp_path / "cache", tmp_path / "shards"
    (tmp_path / "paths.json").write_text(json.dumps(subset))
    (tmp_path / "run.py").write_text(KILLED_RUN)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "run.py"), cluster, str(tmp_path / "paths.json"),
                             str(cache), str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while len(list(out.glob("part-*.parquet"))) < 2:
        assert proc.poll() is None, f"the run ended before it was killed:\n{proc.stdout.read().decode()[-3000:]}"
        assert time.monotonic() < deadline, "the run wrote fewer than 2 shards in 600 s"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    finished = sorted(out.glob("part-*.parquet"))
    assert len(finished) == 2  # the driver was held after its second shard
    kept, damaged = finished
    before = kept.stat()
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # a half-written shard
    partial = out / ".shard.planted.tmp"  # a temporary file a killed writer left behind
    partial.write_bytes(b"PAR1 half a shard")

    with pytest.warns(UserWarning, match="damaged shard will be recomputed"):
        result = embed_dataset(subset, "shapes", cache_dir=cache, output_dir=out, shard_rows=100, **RUN)
    assert (result.shards_reused, result.shards_written) == (1, 5)
    assert (result.n_from_cache, result.n_encoded) == (100, 500)  # only the intact shard's rows were not encoded
    after = kept.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    assert (out / "quarantine" / damaged.name).exists()
    assert partial.read_bytes() == b"PAR1 half a shard"  # never taken for a shard (removed once stale)
    np.testing.assert_allclose(result.embeddings(), reference[:600], rtol=0, atol=EPS)


def test_an_unreadable_file_is_named_or_skipped(cluster, paths, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    files = [paths[0], str(broken), paths[1]]
    with pytest.raises(ImageLoadError, match=r"Cannot read image 1 at .*broken\.png"):
        embed_dataset(files, cache_dir=tmp_path / "c", output_dir=tmp_path / "o1", **RUN)
    with pytest.warns(UserWarning, match="Skipped 1 of 3 images"):
        result = embed_dataset(files, cache_dir=tmp_path / "c", output_dir=tmp_path / "o2", on_error="skip", **RUN)
    assert result.skipped["source"].tolist() == [str(broken)]
    assert result.embeddings().shape == (2, 64)


def test_bad_input_fails_before_any_work(paths, tmp_path):
    missing = str(tmp_path / "gone.png")
    with pytest.raises(ImageLoadError, match=r"Cannot read image 1 at .*gone\.png"):
        embed_dataset([paths[0], missing], cache_dir=tmp_path)
    with pytest.raises(UnknownModelError, match="Unknown model 'ViT-Nope'"):
        embed_dataset(paths[:2], "ViT-Nope", cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyInputError, match="found no images"):
        embed_dataset(tmp_path / "empty", cache_dir=tmp_path)
    with pytest.raises(InputError, match="on_error must be"):
        embed_dataset(paths[:2], cache_dir=tmp_path, on_error="ignore")
    with pytest.raises(InputError, match="shard_rows must be"):
        embed_dataset(paths[:2], cache_dir=tmp_path, shard_rows=0)


def test_a_table_of_paths_is_read_relative_to_its_folder(folder, paths):
    listed = source_paths(folder / "metadata.csv")  # paths relative to the table's folder, in its order
    assert listed == [str(folder.resolve() / p) for p in pd.read_csv(folder / "metadata.csv")["path"]]
    assert sorted(listed) == paths  # the same files as the folder


def test_without_ray_the_error_names_the_extra(paths, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(MissingExtraError, match=r'Fix: pip install "drml-widgets\[ray\]"'):
        embed_dataset(paths[:2], cache_dir=tmp_path / "c", output_dir=tmp_path / "o", **RUN)
