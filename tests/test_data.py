"""Data: the generator is deterministic and SVHN-like, splits are what they claim, transforms too."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from svhn_debug import synthetic
from svhn_debug.config import COLLEAGUE
from svhn_debug.data import (DataUnavailable, apply_transform, build_batches, load_svhn, make_splits,
                             rotate_batch, split_overlap)


def test_an_image_is_a_pure_function_of_seed_split_and_index():
    a, la = synthetic.render_digit(7, "train", 123)
    b, lb = synthetic.render_digit(7, "train", 123)
    assert np.array_equal(a, b) and la == lb
    c, _ = synthetic.render_digit(7, "train", 124)
    assert not np.array_equal(a, c)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8


def test_a_short_pool_is_a_prefix_of_a_longer_one():
    short, ls = synthetic.generate(3, "test", 5)
    long, ll = synthetic.generate(3, "test", 9)
    assert np.array_equal(short, long[:5]) and np.array_equal(ls, ll[:5])


def test_train_and_test_pools_share_no_image(pools):
    train = {img.numpy().tobytes() for img in pools.train_images}
    assert not any(img.numpy().tobytes() in train for img in pools.test_images)


def test_labels_follow_svhns_uneven_distribution():
    _, labels = synthetic.generate(11, "train", 2000)
    freq = np.bincount(labels, minlength=10) / len(labels)
    target = np.asarray(synthetic.SVHN_TRAIN_LABEL_COUNTS) / sum(synthetic.SVHN_TRAIN_LABEL_COUNTS)
    assert np.abs(freq - target).max() < 0.03
    assert freq.argmax() == 1  # ones are the most common house-number digit


def test_the_fingerprint_changes_with_the_generator_parameters(monkeypatch):
    before = synthetic.fingerprint(0)
    monkeypatch.setitem(synthetic.PARAMS, "max_rotation_deg", 13.0)
    assert synthetic.fingerprint(0) != before
    assert synthetic.fingerprint(1) != synthetic.fingerprint(0)


def test_colleague_evaluation_data_are_training_images(pools, smoke):
    splits = make_splits(pools, smoke, COLLEAGUE)
    assert split_overlap(splits, "train", "validation") == 1.0
    assert split_overlap(splits, "train", "test") == 1.0
    assert len(splits["validation"].labels) + len(splits["test"].labels) == len(splits["train"].labels)


def test_sound_split_keeps_validation_and_test_unseen_by_content(pools, smoke):
    # by content, not by index: catches a test split cut from the training pool, or duplicates
    from svhn_debug.checks import check_splits

    splits = make_splits(pools, smoke, replace(COLLEAGUE, split="sound"))
    assert check_splits(splits["train"].images, {"validation": splits["validation"].images,
                                                 "test": splits["test"].images}) == []
    assert splits["test"].pool == "test"
    colleague = make_splits(pools, smoke, COLLEAGUE)
    assert len(check_splits(colleague["train"].images, {"test": colleague["test"].images})) == 1


def test_the_colleagues_preset_rotates_the_evaluation_images(pools, smoke):
    # catches: an evaluation pipeline that ignores eval_transform (the bug would vanish)
    for pipeline in ("pil", "tensor"):
        cfg = replace(COLLEAGUE, pipeline=pipeline)
        batches = build_batches(make_splits(pools, smoke, cfg), cfg, torch.device("cpu"))
        x1, _ = next(iter(batches["test"]))
        x2, _ = next(iter(batches["test"]))
        assert not torch.equal(x1, x2), pipeline  # the same images, rotated anew on every read


def test_batched_rotation_matches_torchvision_image_by_image():
    from torchvision.transforms import functional as TF

    x = torch.rand(5, 3, 32, 32)
    angles = torch.tensor([0.0, 30.0, 90.0, 137.0, 180.0])
    ours = rotate_batch(x, angles)
    for i, angle in enumerate(angles):
        ref = TF.rotate(x[i], float(angle))  # nearest, zero fill, about the centre
        agree = (ours[i] - ref).abs().lt(1e-6).float().mean()
        assert agree > 0.97  # pixels on the rounding boundary may pick the other neighbour


def test_rotation_changes_images_and_a_half_turn_makes_a_six_look_like_a_nine():
    six = next(img for img, label in (synthetic.render_digit(5, "train", i) for i in range(200)) if label == 6)
    x = torch.from_numpy(six.transpose(2, 0, 1).copy()).float()[None] / 255
    turned = rotate_batch(x, torch.tensor([180.0]))
    assert not torch.allclose(turned, x)
    torch.testing.assert_close(rotate_batch(turned, torch.tensor([180.0])), x)  # exact for nearest at 180


def test_sound_augmentation_keeps_images_close_and_labels_untouched(pools, smoke):
    cfg = replace(COLLEAGUE, split="sound", pipeline="tensor", train_transform="shift_jitter", batch_size=64)
    splits = make_splits(pools, smoke, cfg)
    gen = torch.Generator().manual_seed(0)
    x = splits["train"].images[:64].float() / 255
    out = apply_transform(x, "shift_jitter", gen)
    assert out.shape == x.shape and not torch.equal(out, x)
    # Each output is a shifted copy of its input up to brightness and contrast: some shift of at
    # most 2 px correlates almost perfectly with it (pixels, not meaning, are what changed).
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    best_per_image = []
    for i in range(len(x)):
        best_per_image.append(max(torch.corrcoef(torch.stack([out[i].flatten(), padded[i, :, 2 + dy:34 + dy, 2 + dx:34 + dx].flatten()]))[0, 1]
                   for dy in range(-2, 3) for dx in range(-2, 3)))
    best = torch.stack(best_per_image)
    assert best.median() > 0.99 and best.min() > 0.9  # clamping to [0, 1] costs a little


def test_augmented_training_batches_keep_each_image_with_its_label(smoke):
    # Each image is flat grey at a level that encodes its label; shifts with repeated edges keep
    # it flat, so every augmented, shuffled batch must still show its own label's level.
    # catches: labels shuffled or gathered apart from their images.
    from svhn_debug.data import BatchSource, Split

    labels = torch.arange(96) % 10
    images = (labels * 20 + 10).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 32, 32).contiguous()
    split = Split(images, labels, "train", torch.arange(96))
    source = BatchSource(split, batch_size=32, transform="shift", device=torch.device("cpu"), shuffle=True,
                         generator=torch.Generator().manual_seed(0))
    seen = []
    for x, y in source:
        level = (x.mean(dim=(1, 2, 3)) * 255).round()
        assert torch.equal(level, (y * 20 + 10).float())
        seen.append(y)
    assert not torch.equal(torch.cat(seen), labels) and sorted(torch.cat(seen).tolist()) == sorted(labels.tolist())


def test_normalisation_standardises_the_training_images(pools, smoke):
    cfg = replace(COLLEAGUE, split="sound", pipeline="tensor", train_transform="none", normalize=True)
    batches = build_batches(make_splits(pools, smoke, cfg), cfg, torch.device("cpu"))
    x = torch.cat([x for x, _ in batches["train"]])
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3, rtol=0)


def test_pil_and_tensor_paths_give_the_same_pixels_without_random_transforms(pools, smoke):
    cfg = replace(COLLEAGUE, split="sound", train_transform="none", eval_transform="none")
    splits = make_splits(pools, smoke, cfg)
    pil = build_batches(splits, cfg, torch.device("cpu"))
    fast = build_batches(splits, replace(cfg, pipeline="tensor"), torch.device("cpu"))
    (xp, yp), (xf, yf) = next(iter(pil["validation"])), next(iter(fast["validation"]))
    torch.testing.assert_close(xp, xf)
    assert torch.equal(yp, yf)


def test_real_svhn_offline_without_files_fails_with_one_clear_message(monkeypatch, tmp_path, smoke):
    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(tmp_path))
    import torchvision.datasets.utils as tvu

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvu, "download_url", offline)
    with pytest.raises(DataUnavailable, match="train_32x32.mat") as info:
        load_svhn(smoke)
    assert "SVHN_DEBUG_DATA=synthetic" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_parallel_generation_draws_the_same_images_as_one_process(monkeypatch):
    # catches: chunks written to the wrong rows, an off-by-one at a chunk's edge, or a worker that
    # draws from another stream: any would change the images and break the data fingerprint's promise
    import numpy as np

    from svhn_debug import datagen as data

    monkeypatch.setattr(data, "PARALLEL_FROM", 10)
    one_images, one_labels = synthetic.generate(7, "train", 150)
    images, labels = data.generate_pool(7, "train", 150, workers=2)
    assert np.array_equal(images, one_images) and np.array_equal(labels, one_labels)


def test_small_pools_are_generated_in_this_process_and_bad_worker_counts_refused(monkeypatch):
    from svhn_debug import datagen as data

    calls = []
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append(a) or ("images", "labels"))
    assert data.generate_pool(1, "test", data.PARALLEL_FROM - 1, workers=4) == ("images", "labels")
    assert data.generate_pool(1, "test", 10_000, workers=1) == ("images", "labels")
    assert len(calls) == 2
    with pytest.raises(ValueError, match="at least 1"):
        data.generate_pool(1, "test", 10, workers=0)


def test_the_parallel_pool_keeps_the_dtypes_and_starts_at_the_threshold(monkeypatch):
    # catches: float arrays that compare equal to the images, and "<=" for "<" at the threshold
    import numpy as np

    from svhn_debug import datagen

    monkeypatch.setattr(datagen, "PARALLEL_FROM", 150)
    images, labels = datagen.generate_pool(7, "test", 150, workers=2)
    assert images.dtype == np.uint8 and labels.dtype == np.int64 and images.shape == (150, 3, 32, 32)
    calls = []
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append(a))
    datagen.generate_pool(7, "test", 150, workers=2)  # at the threshold: the processes, not this one
    assert calls == []


def test_the_sequential_path_passes_the_pool_through_and_the_default_is_the_usable_cores(monkeypatch):
    from svhn_debug import datagen

    calls = []
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: calls.append((a, k)) or ("images", "labels"))
    monkeypatch.setattr(datagen, "usable_cores", lambda: 1)
    assert datagen.generate_pool(3, "train", 5000) == ("images", "labels")  # one usable core: this process
    assert calls == [((3, "train", 5000), {"progress": False})]


class _InlinePool:
    """A stand-in for ``ProcessPoolExecutor`` that runs each range here and records how the pool
    was made, what it was given and how it was shut down."""

    made: list = []

    def __init__(self, max_workers=None, mp_context=None):
        self.record = {"max_workers": max_workers, "start": mp_context and mp_context.get_start_method(),
                       "ranges": [], "shutdown": None}
        _InlinePool.made.append(self.record)

    def submit(self, fn, *args):
        from concurrent.futures import Future

        self.record["ranges"].append(args[2:])
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:  # noqa: BLE001 - handed to the caller as the real pool would
            future.set_exception(error)
        return future

    def shutdown(self, **kwargs):
        self.record["shutdown"] = kwargs


@pytest.fixture
def inline_pool(monkeypatch):
    import concurrent.futures

    from svhn_debug import datagen

    _InlinePool.made = []
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", _InlinePool)
    monkeypatch.setattr(datagen, "_render_range", lambda seed, split, a, b: (
        np.full((b - a, 3, 32, 32), a % 251, dtype=np.uint8), np.arange(a, b)))
    return _InlinePool.made


def test_the_parallel_pool_spawns_its_workers_in_chunks_that_tile_the_pool(inline_pool):
    from svhn_debug import datagen

    images, labels = datagen.generate_pool(7, "train", 10_000, workers=2)
    (pool,) = inline_pool
    assert pool["max_workers"] == 2 and pool["start"] == "spawn"  # spawn: no torch threads forked
    # eight chunks a worker, each drawn once, in order, together the whole pool
    assert pool["ranges"] == [(a, min(a + 625, 10_000)) for a in range(0, 10_000, 625)]
    assert labels.tolist() == list(range(10_000)) and images[625, 0, 0, 0] == 625 % 251
    # ... but never chunks under 64 images
    inline_pool.clear()
    datagen.generate_pool(7, "train", 2_000, workers=4)
    assert inline_pool[0]["ranges"][:2] == [(0, 64), (64, 128)] and inline_pool[0]["ranges"][-1] == (1984, 2000)


def test_the_parallel_pool_is_shut_down_and_waited_for_also_on_an_error(inline_pool, monkeypatch):
    from svhn_debug import datagen

    datagen.generate_pool(7, "train", 3_000, workers=2)
    assert inline_pool[0]["shutdown"] == {"wait": True, "cancel_futures": True}

    def broken(seed, split, a, b):
        raise RuntimeError("worker failed")
    monkeypatch.setattr(datagen, "_render_range", broken)
    with pytest.raises(RuntimeError, match="worker failed"):
        datagen.generate_pool(7, "train", 3_000, workers=2)
    assert inline_pool[1]["shutdown"] == {"wait": True, "cancel_futures": True}


def test_parallel_generation_needs_two_images_a_worker(monkeypatch, inline_pool):
    from svhn_debug import datagen

    monkeypatch.setattr(datagen, "PARALLEL_FROM", 1)
    monkeypatch.setattr(synthetic, "generate", lambda *a, **k: ("images", "labels"))
    assert datagen.generate_pool(1, "test", 7, workers=4) == ("images", "labels")
    assert inline_pool == []
    datagen.generate_pool(1, "test", 8, workers=4)
    assert len(inline_pool) == 1


def test_usable_cores_are_the_affinity_else_the_cpu_count_else_one(monkeypatch):
    import os

    from svhn_debug import datagen

    assert datagen.usable_cores() == len(os.sched_getaffinity(0))
    # a process pinned to one core of several (taskset, a batch scheduler's allocation)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert datagen.usable_cores() == 1
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert datagen.usable_cores() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert datagen.usable_cores() == 1
