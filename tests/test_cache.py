import os

import numpy as np
import pytest

from drml_widgets import ClipEncoder
from drml_widgets.errors import CacheNotWritableError
from drml_widgets.embed.cache import SHARD_SUFFIX, EmbeddingCache, content_key


def keys(n, tag="t"):
    return [content_key("text", f"{tag}{i}".encode()) for i in range(n)]


def test_put_then_get_returns_identical_rows(tmp_path, rng):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    emb = rng.normal(size=(5, 8)).astype(np.float32)
    cache.put(keys(5), emb)
    rows, missing = EmbeddingCache(tmp_path, {"model": "m"}).get(keys(6))
    assert missing == [5]
    assert np.array_equal(np.stack([rows[i] for i in range(5)]), emb)


def test_identities_do_not_share_entries(tmp_path, rng):
    EmbeddingCache(tmp_path, {"model": "a"}).put(keys(2), rng.normal(size=(2, 4)).astype(np.float32))
    assert EmbeddingCache(tmp_path, {"model": "b"}).get(keys(2))[1] == [0, 1]


def test_half_written_entries_are_never_read(tmp_path, rng):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put(keys(2), rng.normal(size=(2, 4)).astype(np.float32))
    # What a process killed mid-write leaves (or one still writing has): a temporary file.
    partial = cache.dir / ".shard.123.tmp"
    partial.write_bytes(b"\x93NUMPY garbage")
    fresh = EmbeddingCache(tmp_path, {"model": "m"})
    assert len(fresh) == 2
    rows, missing = fresh.get(keys(3))
    assert missing == [2]
    assert partial.exists()  # too recent to be an orphan: it may belong to a live writer


def test_compaction_keeps_every_entry(tmp_path, rng):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    emb = rng.normal(size=(40, 4)).astype(np.float32)
    for i in range(40):
        cache.put(keys(40)[i: i + 1], emb[i: i + 1])
    assert len(list(cache.dir.glob(f"*{SHARD_SUFFIX}"))) <= 33
    cache.compact()
    assert len(list(cache.dir.glob(f"*{SHARD_SUFFIX}"))) == 1
    rows, missing = EmbeddingCache(tmp_path, {"model": "m"}).get(keys(40))
    assert missing == [] and np.array_equal(np.stack([rows[i] for i in range(40)]), emb)


def test_unwritable_cache_dir_is_explained_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheNotWritableError, match="cache_dir=None"):
        ClipEncoder("shapes", cache_dir=blocker / "cache")


def test_second_encoding_never_touches_the_model(tmp_path, world):
    enc = ClipEncoder("shapes", cache_dir=tmp_path)
    texts = ["small red square.", "large blue triangle.", "a green square in the upper left."]
    first_t = enc.encode_texts(texts)
    first_i = enc.encode_images(world.images[:20])

    again = ClipEncoder("shapes", cache_dir=tmp_path)

    def explode(*_, **__):
        raise AssertionError("the model was loaded on a cache hit")

    again.load = explode
    assert np.array_equal(again.encode_texts(texts), first_t)
    assert np.array_equal(again.encode_images(world.images[:20]), first_i)
    assert np.array_equal(again.encode_texts(texts[::-1]), first_t[::-1])
    assert not again.is_loaded


def test_partial_hits_only_encode_the_misses(tmp_path):
    enc = ClipEncoder("shapes", cache_dir=tmp_path)
    enc.encode_texts(["a red square."])
    seen = []
    real_load = enc.load

    def counting_load():
        model, preprocess, tokenizer = real_load()

        def tok(batch):
            seen.extend(batch)
            return tokenizer(batch)

        return model, preprocess, tok

    enc.load = counting_load
    out = enc.encode_texts(["a red square.", "a blue square."])
    assert seen == ["a blue square."]
    assert out.shape == (2, 64)


def test_cache_files_are_replaced_not_rewritten(tmp_path, rng):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    cache.put(keys(1), rng.normal(size=(1, 4)).astype(np.float32))
    (first,) = cache.dir.glob(f"*{SHARD_SUFFIX}")
    before, content = first.stat(), first.read_bytes()
    cache.put(keys(3, "more"), rng.normal(size=(3, 4)).astype(np.float32))
    after = first.stat()
    # New entries go to a new file; the existing one is neither rewritten nor replaced.
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert first.read_bytes() == content
    assert len(list(cache.dir.glob(f"*{SHARD_SUFFIX}"))) == 2 and len(cache) == 4
    assert [p for p in os.listdir(cache.dir) if p.endswith(".tmp")] == []
