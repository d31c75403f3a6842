"""Data: the generator is deterministic and SVHN-like, splits are what they claim, transforms too."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

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


@contextlib.contextmanager
def _global_rng_untouched():
    """Fails unless what runs inside draws only from generators of its own, never from torch's
    global one (a run's other random streams would shift with it)."""
    torch.manual_seed(0)
    before = torch.get_rng_state()
    yield
    assert torch.equal(torch.get_rng_state(), before), "drew from torch's global generator"


def _decode_shifts(out: torch.Tensor) -> torch.Tensor:
    """Each image's (row, column) shift, read off the centre pixel of images whose pixels are
    all different."""
    centre = out[:, 0, 16, 16].round().long()
    return torch.stack([centre // 32 - 16, centre % 32 - 16], dim=1)


def test_shifts_are_the_generators_draws_of_minus_two_to_two_in_each_direction():
    from svhn_debug.data import shift_batch

    x = torch.arange(32 * 32, dtype=torch.float32).reshape(1, 1, 32, 32).expand(500, 3, 32, 32).contiguous()
    with _global_rng_untouched():
        out = shift_batch(x, torch.Generator().manual_seed(5))
    expected = torch.randint(-2, 3, (500, 2), generator=torch.Generator().manual_seed(5))
    assert torch.equal(_decode_shifts(out), expected)  # row shift first, pixel (i, j) from (i+dy, j+dx)
    assert set(expected.flatten().tolist()) == {-2, -1, 0, 1, 2}


def test_jitter_scales_each_image_by_its_own_brightness_and_contrast_and_clamps():
    from svhn_debug.data import shift_jitter_batch

    def jitter(x):
        with _global_rng_untouched():
            out = shift_jitter_batch(x, torch.Generator().manual_seed(3))
        assert torch.equal(out, shift_jitter_batch(x, torch.Generator().manual_seed(3)))
        return out

    # constant images (0.3 and 0.6 alternating) are scaled by their brightness alone: in [0.8, 1.2],
    # one factor per image, measured about each image's own mean
    level = torch.tensor([0.3, 0.6]).repeat(250)
    out = jitter(level[:, None, None, None].expand(500, 3, 32, 32).contiguous())
    factor = out[:, 0, 0, 0] / level
    assert torch.allclose(out, out[:, :1, :1, :1].expand_as(out))
    assert factor.min() >= 0.8 - 1e-6 and factor.max() <= 1.2 + 1e-6 and factor.std() > 0.1
    # two-valued images (0.4 and 0.6, columns): the spread is scaled by the contrast, in [0.8, 1.2]
    stripes = torch.tensor([0.4, 0.6]).repeat(16)[None, None, None, :].expand(500, 3, 32, 32).contiguous()
    out = jitter(stripes)
    contrast = (out.amax(dim=(1, 2, 3)) - out.amin(dim=(1, 2, 3))) / 0.2
    assert contrast.min() >= 0.8 - 1e-5 and contrast.max() <= 1.2 + 1e-5 and contrast.std() > 0.1
    # results stay in [0, 1], clamped at both ends
    out = jitter(torch.tensor([0.0, 1.0]).repeat(16)[None, None, None, :].expand(500, 3, 32, 32).contiguous())
    assert out.min() == 0 and out.max() == 1
    bright = jitter(torch.full((500, 3, 32, 32), 0.95))
    assert bright.max() == 1 and (bright == 1).any(dim=(1, 2, 3)).float().mean() < 1


def test_the_notebooks_rotation_draws_one_angle_in_0_to_180_per_image_from_the_runs_generator(monkeypatch):
    from svhn_debug import data

    angles = []
    monkeypatch.setattr(data, "rotate_batch", lambda x, degrees: angles.append(degrees) or x)
    with _global_rng_untouched():
        data.apply_transform(torch.zeros(400, 3, 32, 32), "rotate180", torch.Generator().manual_seed(9))
    assert torch.equal(angles[0], torch.rand(400, generator=torch.Generator().manual_seed(9)) * 180.0)


def _all(source):
    xs, ys = zip(*source)
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("pipeline", ["tensor", "pil"])
@pytest.mark.parametrize("normalize", [True, False])
def test_the_batch_sources_of_a_run(pipeline, normalize, smoke, pools):
    # what a run's loop and its evaluation iterate: which sources, in which order, scaled how
    cfg = replace(COLLEAGUE, pipeline=pipeline, normalize=normalize, split="sound", train_transform="none",
                  eval_transform="none", batch_size=100, seed=4, eval_splits=("train", "validation", "test"))
    splits = make_splits(pools, smoke, cfg)
    with _global_rng_untouched():
        # training first, as in a run: the PIL loaders share one generator, which every iteration
        # of any of them advances
        sources = build_batches(splits, cfg, torch.device("cpu"), eval_limit=150)
        tx, ty = _all(sources["train"])
        evaluated = {key: _all(sources[key]) for key in ("train_eval", "validation", "test")}
    assert set(sources) == {"train", "train_eval", "validation", "test"}
    assert isinstance(sources["train"], torch.utils.data.DataLoader) == (pipeline == "pil")

    if normalize:
        from svhn_debug.data import channel_stats

        mean, std = (s.view(1, 3, 1, 1) for s in channel_stats(splits["train"].images))
    else:
        mean, std = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)

    def scaled(images):
        return (images.float() / 255 - mean) / std

    # training: every image once an epoch, shuffled by the run's seed, from its own generator
    assert len(ty) == len(splits["train"].labels) and not torch.equal(ty, splits["train"].labels)
    assert sorted(ty.tolist()) == sorted(splits["train"].labels.tolist())
    # evaluation: every image of its split in the split's order (the training split's first 150 only)
    for key, name, n in (("train_eval", "train", 150), ("validation", "validation", None), ("test", "test", None)):
        x, y = evaluated[key]
        assert torch.equal(y, splits[name].labels[:n])
        torch.testing.assert_close(x, scaled(splits[name].images[:n]), rtol=0, atol=1e-5)
    again = build_batches(splits, cfg, torch.device("cpu"), eval_limit=150)
    x_again, y_again = _all(again["train"])
    assert torch.equal(y_again, ty)
    torch.testing.assert_close(x_again, tx, rtol=0, atol=0)
    other = build_batches(splits, replace(cfg, seed=5), torch.device("cpu"))
    assert not torch.equal(_all(other["train"])[1], ty)
    assert len(_all(other["train_eval"])[1]) == len(splits["train"].labels)  # no limit unless asked


def test_batch_sources_transform_training_images_and_keep_the_memory_format(smoke, pools):
    cfg = replace(COLLEAGUE, pipeline="tensor", split="sound", train_transform="shift", eval_transform="none",
                  channels_last=True, batch_size=64, eval_splits=("validation",))
    sources = build_batches(make_splits(pools, smoke, cfg), cfg, torch.device("cpu"))
    plain = build_batches(make_splits(pools, smoke, cfg), replace(cfg, train_transform="none"), torch.device("cpu"))
    (x, _), (p, _) = next(iter(sources["train"])), next(iter(plain["train"]))
    assert not torch.equal(x, p)
    for source in (sources["train"], sources["validation"]):
        x, _ = next(iter(source))
        assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    # random transforms, in training and in evaluation, draw from the sources' own generators
    cfg = replace(cfg, eval_transform="rotate180")
    with _global_rng_untouched():
        draws = [[_all(s)[0] for s in build_batches(make_splits(pools, smoke, cfg), cfg, torch.device("cpu")).values()]
                 for _ in range(2)]
    for first, second in zip(*draws):
        assert torch.equal(first, second)
    # the PIL pipeline applies the training transform too
    pil = replace(cfg, pipeline="pil", channels_last=False)
    shifted, upright = (build_batches(make_splits(pools, smoke, c), c, torch.device("cpu"))["train"]
                        for c in (pil, replace(pil, train_transform="none")))
    (x, y), (p, q) = next(iter(shifted)), next(iter(upright))
    assert torch.equal(y, q) and not torch.equal(x, p)


SMALL = dict(name="small", n_train=30, n_test=20, n_validation=10, epoch_scale=0.1, n_synthetic_train=40,
             n_synthetic_test=20)


def test_generated_pools_are_drawn_once_saved_and_read_back_as_prefixes(monkeypatch, tmp_path):
    from svhn_debug import data, datagen
    from svhn_debug.profiles import Profile

    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(tmp_path / "nested" / "data"))  # made with its parents
    small = Profile(**SMALL)
    drawn = []
    real = datagen.generate_pool
    monkeypatch.setattr(datagen, "generate_pool", lambda *a, **k: drawn.append((a, k)) or real(*a, **k))
    pools = data.load_synthetic(small, progress=False)
    fp = synthetic.fingerprint(data.SYNTHETIC_SEED)
    assert (pools.source, pools.fingerprint) == ("synthetic", f"synthetic:{fp}")
    assert drawn == [((data.SYNTHETIC_SEED, "train", 40), {"progress": False}),
                     ((data.SYNTHETIC_SEED, "test", 20), {"progress": False})]
    for split, count, images, labels in (("train", 40, pools.train_images, pools.train_labels),
                                         ("test", 20, pools.test_images, pools.test_labels)):
        want_images, want_labels = synthetic.generate(data.SYNTHETIC_SEED, split, count)
        assert torch.equal(images, torch.from_numpy(want_images)) and torch.equal(labels, torch.from_numpy(want_labels))
        with np.load(tmp_path / "nested" / "data" / f"synthetic-{fp}" / f"{split}-{count}.npz") as saved:
            assert np.array_equal(saved["images"], want_images) and np.array_equal(saved["labels"], want_labels)
    # read back, not drawn again: the same sizes, and a smaller pool as a prefix of the saved one
    drawn.clear()
    assert torch.equal(data.load_synthetic(small, progress=False).train_images, pools.train_images)
    smaller = data.load_synthetic(replace(small, n_synthetic_train=25), progress=False)
    assert drawn == [] and torch.equal(smaller.train_images, pools.train_images[:25])
    assert torch.equal(smaller.train_labels, pools.train_labels[:25])
    # a larger one is drawn (showing progress unless told not to) and saved beside it
    data.load_synthetic(replace(small, n_synthetic_train=41))
    assert drawn == [((data.SYNTHETIC_SEED, "train", 41), {"progress": True})]
    folder = tmp_path / "nested" / "data" / f"synthetic-{fp}"
    assert sorted(p.name for p in folder.iterdir()) == ["test-20.npz", "train-40.npz", "train-41.npz"]  # no temporary left


class _FakeSVHN:
    """torchvision's SVHN without the files' contents: records how it was asked, "downloads" by
    writing the file, and fails a download when told to."""

    calls: list = []
    offline = False

    def __init__(self, root, split, download):
        from svhn_debug.data import SVHN_FILES

        _FakeSVHN.calls.append((root, split, download))
        path = Path(root) / SVHN_FILES[split]
        if download:
            if _FakeSVHN.offline:
                raise ConnectionError("no network")
            path.write_bytes(b"x" * (100 if split == "train" else 60))
        n = 50 if split == "train" else 30
        self.data = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(3, 1).repeat(32, 2).repeat(32, 3)
        self.labels = np.arange(n) % 10

    def __len__(self):
        return len(self.labels)


def test_real_svhn_pools_read_what_is_there_and_download_what_is_not(monkeypatch, tmp_path):
    import torchvision.datasets

    from svhn_debug import data
    from svhn_debug.profiles import Profile

    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets, "SVHN", _FakeSVHN)
    _FakeSVHN.calls, _FakeSVHN.offline = [], False
    root = tmp_path / "svhn"
    root.mkdir()
    (root / "train_32x32.mat").write_bytes(b"y" * 100)
    pools = data.load_svhn(Profile(**SMALL))
    assert _FakeSVHN.calls == [(str(root), "train", False), (str(root), "test", True)]
    # the profile's sizes: training pool = training + validation images, at most what the file holds
    assert pools.train_images.shape == (40, 3, 32, 32) and pools.test_images.shape == (20, 3, 32, 32)
    assert pools.train_images[39, 0, 0, 0] == 39 and pools.train_labels.tolist() == [i % 10 for i in range(40)]
    assert pools.train_labels.dtype == torch.int64 and pools.source == "svhn"
    assert pools.fingerprint.startswith("svhn:") and len(pools.fingerprint) == len("svhn:") + 16
    assert data.load_pools(Profile(**SMALL), "svhn").fingerprint == pools.fingerprint
    (root / "test_32x32.mat").write_bytes(b"z" * 61)  # another file: another fingerprint
    assert data.load_svhn(Profile(**SMALL)).fingerprint != pools.fingerprint
    # offline without the file: one message naming the failure
    (root / "test_32x32.mat").unlink()
    _FakeSVHN.offline = True
    with pytest.raises(DataUnavailable, match=r"SVHN's test split is not in .* \(ConnectionError\)"):
        data.load_svhn(Profile(**SMALL))


def test_where_the_data_come_from(monkeypatch, tmp_path):
    from svhn_debug import data
    from svhn_debug.profiles import Profile

    assert (data.repo_root() / "tests" / "test_data.py").is_file()
    monkeypatch.delenv("SVHN_DEBUG_DATA_DIR", raising=False)
    assert data.data_dir() == data.repo_root() / "data"
    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path
    assert data.data_source() == "synthetic"
    monkeypatch.setenv("SVHN_DEBUG_DATA", "svhn")
    assert data.data_source() == "svhn"
    monkeypatch.setenv("SVHN_DEBUG_DATA", "SVHN")
    with pytest.raises(ValueError, match="choose 'synthetic' or 'svhn'"):
        data.data_source()
    loaded = []
    monkeypatch.setattr(data, "load_svhn", lambda profile: loaded.append(("svhn", profile)))
    monkeypatch.setattr(data, "load_synthetic", lambda profile, progress: loaded.append(("synthetic", profile, progress)))
    small = Profile(**SMALL)
    data.load_pools(small, "svhn")
    data.load_pools(small, "synthetic")  # with progress unless told otherwise
    data.load_pools(small, "synthetic", progress=False)
    assert loaded == [("svhn", small), ("synthetic", small, True), ("synthetic", small, False)]


def _counting_pools(n_train, n_test):
    from svhn_debug.data import Pools

    def images(n, offset):
        return (torch.arange(n)[:, None, None, None] + offset).expand(n, 3, 32, 32).to(torch.uint8)
    return Pools("synthetic", "test", images(n_train, 0), torch.arange(n_train) % 10,
                 images(n_test, 100), torch.arange(n_test) % 10)


def test_the_splits_cut_from_a_small_pool():
    from svhn_debug.profiles import Profile

    pools = _counting_pools(50, 30)
    # sound: validation is the pool's last fifth at most, training what is left before it, test the test pool
    profile = Profile("small", n_train=45, n_test=40, n_validation=20, epoch_scale=1, n_synthetic_train=50,
                      n_synthetic_test=30)
    splits = make_splits(pools, profile, replace(COLLEAGUE, split="sound"))
    assert splits["validation"].indices.tolist() == list(range(40, 50))
    assert splits["train"].indices.tolist() == list(range(40))
    assert splits["test"].pool == "test" and splits["test"].indices.tolist() == list(range(30))
    # colleague: the training images halved at random by the run's seed (the first half one shorter)
    with _global_rng_untouched():
        cut = make_splits(pools, replace(profile, n_train=41), replace(COLLEAGUE, split="colleague", seed=3))
    assert cut["train"].indices.tolist() == list(range(41))
    assert len(cut["validation"].labels) == 20 and len(cut["test"].labels) == 21
    assert sorted(cut["validation"].indices.tolist() + cut["test"].indices.tolist()) == list(range(41))
    perm = torch.randperm(41, generator=torch.Generator().manual_seed(3))
    assert cut["validation"].indices.tolist() == perm[:20].tolist()


def test_the_pil_pipelines_transforms_are_torchvisions_equivalents():
    from torchvision import transforms as T

    from svhn_debug.data import pil_transform

    def kinds(name, mean=None, std=None):
        return [type(t) for t in pil_transform(name, mean, std).transforms]

    assert kinds("none") == [T.ToTensor]
    assert kinds("shift") == [T.RandomCrop, T.ToTensor]
    assert kinds("shift_jitter") == [T.RandomCrop, T.ColorJitter, T.ToTensor]
    assert kinds("rotate180") == [T.RandomRotation, T.ToTensor]
    assert list(pil_transform("rotate180", None, None).transforms[0].degrees) == [0, 180]
    crop, jitter = pil_transform("shift_jitter", None, None).transforms[:2]
    assert (crop.size, crop.padding, crop.padding_mode) == ((32, 32), 2, "edge")
    assert jitter.brightness == (0.8, 1.2) and jitter.contrast == (0.8, 1.2)
    normalize = pil_transform("none", torch.tensor([0.1, 0.2, 0.3]), torch.tensor([1.0, 2.0, 3.0])).transforms[-1]
    assert normalize.mean == pytest.approx([0.1, 0.2, 0.3]) and normalize.std == [1.0, 2.0, 3.0]
