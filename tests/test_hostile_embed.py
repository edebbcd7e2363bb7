"""Hostile inputs to the embed layer: tampered or stale Ray shards, rows that would poison the
content-addressed cache, EXIF-rotated photos, short writes, unusable output folders, and folders
with links, hidden entries and file names that are not UTF-8."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
from PIL import Image

from drml_widgets import ClipEncoder, load_shapes_world
from drml_widgets.embed.cache import EmbeddingCache, content_key
from drml_widgets.embed.distributed import embed_dataset, source_paths
from drml_widgets.embed.images import load_rgb
from drml_widgets.errors import CacheNotWritableError, EmbeddingError

RUN = dict(num_actors=1, batch_size=8, progress=False)
EPS = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def cluster():
    for attempt in range(3):  # as in test_ray_embed: the raylet may miss its 30 s on a busy machine
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception as exc:
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = load_shapes_world(n=100, seed=7).to_folder(tmp_path_factory.mktemp("world"), image_format="png")
    return source_paths(folder)[:24]


@pytest.fixture(scope="module")
def reference(files):
    return ClipEncoder("shapes", cache_dir=None, progress=False).encode_images(files)


def first_shard(out):
    return sorted(out.glob("part-*.parquet"))[0]


def rewrite(shard, change):
    """Rewrite a shard's table through ``change`` (a tamperer with pyarrow), checksums and all."""
    table = pq.read_table(shard)
    pq.write_table(change(table), shard, write_page_checksum=True)


def with_embeddings(table, vectors):
    flat = np.concatenate([np.asarray(v, np.float32) for v in vectors])
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
    column = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))
    return table.set_column(table.schema.get_field_index("embedding"), "embedding", column)


def nan_rows(table):
    vectors = [np.asarray(v, np.float32) for v in table["embedding"].to_pylist()]
    vectors[0][:] = np.nan
    return with_embeddings(table, vectors)


def short_rows(table):
    return with_embeddings(table, [np.asarray(v, np.float32)[:10] for v in table["embedding"].to_pylist()])


def float64_rows(table):
    column = pa.array(table["embedding"].to_pylist(), pa.large_list(pa.float64()))
    return table.set_column(table.schema.get_field_index("embedding"), "embedding", column)


def other_model(table):
    return table.replace_schema_metadata({**(table.schema.metadata or {}), b"drml_identity": b"another-model"})


def swapped_keys(table):
    """Each row's key names the next row's file: the cache would serve one image for another."""
    keys = table["key"].to_pylist()
    return table.set_column(table.schema.get_field_index("key"), "key", pa.array(keys[1:] + keys[:1], pa.binary()))


@pytest.mark.parametrize("tamper, warned", [
    (nan_rows, True), (short_rows, True), (float64_rows, True), (other_model, True),
    (swapped_keys, False),  # keys that do not match the files read as files changed since: no alarm
])
def test_a_tampered_shard_is_set_aside_and_never_reaches_the_cache(cluster, files, reference, tmp_path, tamper,
                                                                   warned):
    out = tmp_path / "shards"
    embed_dataset(files, "shapes", cache_dir=tmp_path / "first", output_dir=out, shard_rows=8, **RUN)
    rewrite(first_shard(out), tamper)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = embed_dataset(files, "shapes", cache_dir=tmp_path / "second", output_dir=out, shard_rows=8, **RUN)
    assert any("recomputed" in str(w.message) for w in caught) == warned
    assert (result.shards_reused, result.shards_written) == (2, 1)
    np.testing.assert_allclose(result.embeddings(), reference, rtol=0, atol=EPS)
    cached = ClipEncoder("shapes", cache_dir=tmp_path / "second", progress=False)
    cached.load = None  # every row must come from the cache, and be the right one
    np.testing.assert_allclose(cached.encode_images(files), reference, rtol=0, atol=EPS)


@pytest.mark.parametrize("tamper", [nan_rows, short_rows, float64_rows])
def test_a_shard_damaged_after_the_run_is_refused_by_its_result(cluster, files, tmp_path, tamper):
    result = embed_dataset(files, "shapes", cache_dir=tmp_path / "c", output_dir=tmp_path / "shards", shard_rows=8, **RUN)
    assert result.embeddings().shape == (len(files), 64)
    rewrite(first_shard(tmp_path / "shards"), tamper)
    with pytest.raises(EmbeddingError, match=r"no longer holds what the run wrote.*Fix: run embed_dataset again"):
        result.embeddings()


def test_a_file_changed_under_the_same_size_and_mtime_is_encoded_again(cluster, files, tmp_path):
    mine = [str(tmp_path / f"{i}.bmp") for i in range(4)]  # BMP: the same size whatever the pixels
    for src, dst in zip(files[:4], mine):
        Image.open(src).convert("RGB").save(dst)
    out = tmp_path / "shards"
    embed_dataset(mine, "shapes", cache_dir=tmp_path / "c", output_dir=out, shard_rows=4, **RUN)
    stat = os.stat(mine[0])
    Image.fromarray(np.asarray(Image.open(mine[0]))[::-1].copy()).save(mine[0])
    os.utime(mine[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(mine[0]).st_size == stat.st_size
    result = embed_dataset(mine, "shapes", cache_dir=tmp_path / "c", output_dir=out, shard_rows=4, **RUN)
    assert (result.shards_reused, result.n_encoded) == (0, 1)
    expected = ClipEncoder("shapes", cache_dir=None, progress=False).encode_images(mine)
    np.testing.assert_allclose(result.embeddings(), expected, rtol=0, atol=EPS)


@pytest.mark.parametrize("rows, message", [
    (np.ones((1, 3), np.float32), "3 values per row.*has 4"),
    (np.full((1, 4), np.nan, np.float32), "NaN or inf"),
])
def test_the_cache_refuses_rows_of_the_wrong_width_or_not_finite(tmp_path, rows, message):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put([content_key("text", b"a")], np.ones((1, 4), np.float32))
    again = EmbeddingCache(tmp_path, {"model": "m"})  # another process: it knows the width from disk
    with pytest.raises(EmbeddingError, match=message + r".*Fix:"):
        again.put([content_key("text", b"b")], rows)
    assert len(again) == 1


def test_a_cache_shard_of_another_width_is_set_aside(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put([content_key("text", b"a")], np.ones((1, 4), np.float32))
    rogue = np.empty(1, [("key", "V16"), ("emb", "<f4", (3,))])
    rogue["key"] = np.frombuffer(content_key("text", b"b"), "V16")
    from drml_widgets.embed.cache import file_checksum

    path = cache.dir / "rogue.npy"
    np.save(path, rogue)
    path.rename(cache.dir / f"{file_checksum(path)}.shard.npy")
    with pytest.warns(UserWarning, match="unusable shard"):
        assert EmbeddingCache(tmp_path, {"model": "m"}).missing([content_key("text", b"b")]) == [0]


SHORT_WRITE = textwrap.dedent("""
    import resource, sys, warnings
    import numpy as np
    from drml_widgets.embed.cache import EmbeddingCache, content_key
    from drml_widgets.errors import CacheNotWritableError

    cache = EmbeddingCache(sys.argv[1], {"model": "m"})
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    keys = [content_key("text", str(i).encode()) for i in range(200)]
    try:
        cache.put(keys, np.ones((200, 64), np.float32))
    except CacheNotWritableError as exc:
        print("CacheNotWritableError:", exc)
""")


def test_a_short_write_is_a_full_disk(tmp_path):
    run = subprocess.run([sys.executable, "-c", SHORT_WRITE, str(tmp_path)], capture_output=True, text=True)
    assert "CacheNotWritableError:" in run.stdout and "Fix:" in run.stdout, run.stderr[-2000:]
    assert not list(tmp_path.rglob("*.tmp"))


def rotated_jpeg(path, pixels):
    """A JPEG stored upside down, tagged to be shown rotated by 180 degrees (orientation 3)."""
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(pixels[::-1, ::-1].copy()).save(path, quality=100, subsampling=0, exif=exif)


def test_an_exif_rotated_photo_is_seen_as_displayed(tmp_path, files):
    upright = np.asarray(Image.open(files[0]).convert("RGB"))
    rotated_jpeg(tmp_path / "tagged.jpg", upright)
    Image.fromarray(upright).save(tmp_path / "plain.jpg", quality=100, subsampling=0)
    shown = np.asarray(load_rgb(str(tmp_path / "tagged.jpg"), 0)).astype(int)
    assert np.abs(shown - upright).mean() < 3
    emb = ClipEncoder("shapes", cache_dir=None, progress=False).encode_images(
        [str(tmp_path / "tagged.jpg"), str(tmp_path / "plain.jpg")])
    assert float(emb[0] @ emb[1]) > 0.99


def test_ray_decodes_exif_rotated_photos_as_displayed(cluster, tmp_path, files):
    upright = np.asarray(Image.open(files[0]).convert("RGB"))
    rotated_jpeg(tmp_path / "tagged.jpg", upright)
    Image.fromarray(upright).save(tmp_path / "plain.jpg", quality=100, subsampling=0)
    result = embed_dataset([str(tmp_path / "tagged.jpg"), str(tmp_path / "plain.jpg")], "shapes",
                           cache_dir=tmp_path / "c", output_dir=tmp_path / "o", **RUN)
    emb = result.embeddings()
    assert float(emb[0] @ emb[1]) > 0.99


@pytest.mark.parametrize("make", ["file", "read-only"])
def test_an_unusable_output_dir_is_named_with_the_fix(files, tmp_path, make):
    out = tmp_path / "out"
    if make == "file":
        out.write_text("not a folder")
    else:
        tmp_path.joinpath("ro").mkdir()
        os.chmod(tmp_path / "ro", 0o500)
        out = tmp_path / "ro" / "out"
        if os.access(tmp_path / "ro", os.W_OK):
            pytest.skip("running as root: permissions do not apply")
    with pytest.raises(CacheNotWritableError, match=r"output_dir.*Fix:"):
        embed_dataset(files[:2], "shapes", cache_dir=tmp_path / "c", output_dir=out, **RUN)


def test_a_folder_source_follows_linked_folders_and_skips_hidden_ones(tmp_path, files):
    folder = tmp_path / "data"
    (folder / "square").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    Image.open(files[0]).save(folder / "square" / "a.png")
    Image.open(files[1]).save(tmp_path / "elsewhere" / "b.png")
    (folder / "square" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (folder / "square" / "loop").symlink_to(folder, target_is_directory=True)  # must not loop
    (folder / "square" / ".thumbs").mkdir()
    Image.open(files[2]).save(folder / "square" / ".thumbs" / "c.png")
    with pytest.warns(UserWarning, match="Skipped 1 hidden"):
        found = source_paths(folder)
    assert [os.path.basename(p) for p in found] == ["a.png", "b.png"]


def test_a_file_name_that_is_not_utf8_is_embedded(cluster, tmp_path, files):
    folder = os.fsencode(tmp_path / "odd")
    os.mkdir(folder)
    name = os.path.join(folder, b"caf\xe9.png")
    Image.open(files[0]).save(name)
    result = embed_dataset(os.fsdecode(folder), "shapes", cache_dir=tmp_path / "c", output_dir=tmp_path / "o", **RUN)
    assert result.embeddings().shape == (1, 64)
