"""Data: the image pools (generated or real SVHN), the splits, the transforms, the batch iterators.

A pool is held as one uint8 tensor (N, 3, 32, 32). The fast path converts and augments whole
batches as tensors on the target device; the colleague's per-sample PIL path (torchvision
transforms in a ``DataLoader``) stays available to show what it costs.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from . import synthetic
from .config import RunConfig
from .profiles import Profile

SYNTHETIC_SEED = 2024  # the generated data set is fixed: one seed for the whole project
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


class DataUnavailable(RuntimeError):
    """The requested data cannot be loaded here; the message says how to get it."""


def repo_root() -> Path:
    """The project's top folder (the package lives in ``code/svhn_debug``)."""
    return Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """Where data are kept: ``SVHN_DEBUG_DATA_DIR`` or ``data/`` in the project (git-ignored)."""
    return Path(os.environ.get("SVHN_DEBUG_DATA_DIR") or repo_root() / "data")


def data_source() -> str:
    """``synthetic`` (default) or ``svhn``, from ``SVHN_DEBUG_DATA``."""
    source = os.environ.get("SVHN_DEBUG_DATA") or "synthetic"
    if source not in ("synthetic", "svhn"):
        raise ValueError(f"SVHN_DEBUG_DATA={source!r} is not allowed; choose 'synthetic' or 'svhn'")
    return source


@dataclass(frozen=True)
class Pools:
    """The training and test pools of one data source."""

    source: str
    fingerprint: str  # enters every cache key
    train_images: torch.Tensor  # (N, 3, 32, 32) uint8
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor
    test_labels: torch.Tensor


def _save_atomic(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _data_folder(folder: Path) -> Path:
    """``folder``, created when missing; :class:`DataUnavailable` when it cannot be used."""
    for path in (data_dir(), folder):
        if path.exists() and not path.is_dir():
            raise DataUnavailable(f"the data location {path} is a file, not a folder; move it away or set "
                                  f"SVHN_DEBUG_DATA_DIR to a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataUnavailable(f"the data folder {folder} cannot be created ({err.strerror or err}); "
                              f"set SVHN_DEBUG_DATA_DIR to a writable folder") from None
    return folder


def _read_pool(path: Path, count: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The first ``count`` images and labels of a generated file; ``None`` (with a warning)
    when the file is damaged: it is then generated again."""
    try:
        with np.load(path) as npz:
            images, labels = npz["images"], npz["labels"]
            if len(images) < count or len(labels) < count or images.shape[1:] != (3, 32, 32):
                raise ValueError(f"holds {len(images)} images of shape {images.shape[1:]}")
            return torch.from_numpy(images[:count].copy()), torch.from_numpy(labels[:count].copy())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"generated data file {path} is damaged ({type(err).__name__}: {err}); generating it again",
                      stacklevel=3)
        path.unlink(missing_ok=True)
        return None


def load_synthetic(profile: Profile, progress: bool = True) -> Pools:
    """The generated pools for ``profile``, generated once into the data folder (again when a
    file is damaged)."""
    fp = synthetic.fingerprint(SYNTHETIC_SEED)
    folder = _data_folder(data_dir() / f"synthetic-{fp}")
    arrays = {}
    for split, count in (("train", profile.n_synthetic_train), ("test", profile.n_synthetic_test)):
        # Any prefix of a pool is the same images: reuse a larger file when there is one.
        candidates = sorted((int(p.stem.split("-")[1]), p) for p in folder.glob(f"{split}-*.npz")
                            if p.stem.split("-")[1].isdigit())
        loaded = None
        for _, path in (c for c in candidates if c[0] >= count):
            loaded = _read_pool(path, count)
            if loaded is not None:
                break
        if loaded is None:
            from .datagen import generate_pool  # here, not at the top: data's module-level code is in run records

            images, labels = generate_pool(SYNTHETIC_SEED, split, count, progress=progress)
            try:
                _save_atomic(folder / f"{split}-{count}.npz", images=images, labels=labels)
            except OSError as err:
                raise DataUnavailable(f"the data folder {folder} cannot be written ({err.strerror or err}); "
                                      f"set SVHN_DEBUG_DATA_DIR to a writable folder") from None
            loaded = torch.from_numpy(images[:count].copy()), torch.from_numpy(labels[:count].copy())
        arrays[split] = loaded
    return Pools("synthetic", f"synthetic:{fp}", *arrays["train"], *arrays["test"])


def load_svhn(profile: Profile) -> Pools:
    """Real SVHN through torchvision: read from the data folder, downloaded when possible."""
    from torchvision.datasets import SVHN

    root = _data_folder(data_dir() / "svhn")
    arrays = {}
    for split, count in (("train", profile.n_train + profile.n_validation), ("test", profile.n_test)):
        present = (root / SVHN_FILES[split]).exists()
        try:
            ds = SVHN(root=str(root), split=split, download=not present)
        except Exception as err:  # no network, a proxy, a half-written file...
            if present:
                raise DataUnavailable(
                    f"{root / SVHN_FILES[split]} is there but fails torchvision's checksum (damaged or incomplete). "
                    f"Delete it and put a complete copy there (http://ufldl.stanford.edu/housenumbers/), "
                    f"or use the generated data (SVHN_DEBUG_DATA=synthetic).") from None
            raise DataUnavailable(
                f"SVHN's {split} split is not in {root} and could not be downloaded ({type(err).__name__}). "
                f"Put {SVHN_FILES[split]} (from http://ufldl.stanford.edu/housenumbers/) into {root}, "
                f"or use the generated data (SVHN_DEBUG_DATA=synthetic).") from None
        count = min(count, len(ds))
        arrays[split] = (torch.from_numpy(ds.data[:count].copy()), torch.from_numpy(ds.labels[:count].astype(np.int64)))
    # torchvision checks these files against fixed MD5 sums, so name and sizes pin the content.
    fp = hashlib.sha256(str(sorted((k, (root / v).stat().st_size) for k, v in SVHN_FILES.items())).encode())
    return Pools("svhn", f"svhn:{fp.hexdigest()[:16]}", *arrays["train"], *arrays["test"])


def load_pools(profile: Profile, source: str | None = None, progress: bool = True) -> Pools:
    """Pools of the active data source (``SVHN_DEBUG_DATA``) or of ``source``."""
    source = source or data_source()
    return load_synthetic(profile, progress) if source == "synthetic" else load_svhn(profile)


def data_fingerprint(profile: Profile, source: str | None = None) -> str:
    """The pools' fingerprint without loading them (for cache keys)."""
    source = source or data_source()
    if source == "synthetic":
        return f"synthetic:{synthetic.fingerprint(SYNTHETIC_SEED)}"
    return load_svhn(profile).fingerprint


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Split:
    """Images and labels of one split, plus where they came from (indices into a pool)."""

    images: torch.Tensor
    labels: torch.Tensor
    pool: str  # "train" or "test"
    indices: torch.Tensor


def make_splits(pools: Pools, profile: Profile, config: RunConfig) -> dict[str, Split]:
    """Train, validation and test splits as ``config.split`` defines them.

    ``colleague``: trains on the first ``n_train`` images of the training pool, and cuts the
    *same* images in two halves (``random_split``) for validation and test.
    ``sound``: validation is the last ``n_validation`` images of the training pool, disjoint from
    the training images; test comes from the test pool.
    """
    n_pool = len(pools.train_labels)

    def take(pool: str, idx: torch.Tensor) -> Split:
        images, labels = (pools.train_images, pools.train_labels) if pool == "train" else (pools.test_images, pools.test_labels)
        return Split(images[idx], labels[idx], pool, idx)

    if config.split == "colleague":
        n = min(profile.n_train, n_pool)
        train_idx = torch.arange(n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed))
        half = int(n / 2)  # random_split(eval_set, [int(len/2), len - int(len/2)])
        return {"train": take("train", train_idx), "validation": take("train", perm[:half]),
                "test": take("train", perm[half:])}
    n_val = min(profile.n_validation, n_pool // 5)
    n_train = min(profile.n_train, n_pool - n_val)
    return {"train": take("train", torch.arange(n_train)),
            "validation": take("train", torch.arange(n_pool - n_val, n_pool)),
            "test": take("test", torch.arange(min(profile.n_test, len(pools.test_labels))))}


def heldout_source(pools: Pools, profile: Profile, config: RunConfig, device: torch.device) -> "BatchSource | None":
    """The yardstick every run is scored on after its last epoch: the first ``n_test`` images of
    the *test* pool, upright (no transform), standardised with the run's own training statistics
    when it standardises its inputs. Whatever a run's split and evaluation transform, this is the
    same held-out set, so runs that put different bugs back compare on one scale.

    ``None`` when the run's own test view already is the yardstick (the sound split evaluated
    upright): its test metrics are the held-out ones.
    """
    if config.split == "sound" and config.eval_transform == "none" and "test" in config.eval_splits:
        return None
    n = min(profile.n_test, len(pools.test_labels))
    idx = torch.arange(n)
    split = Split(pools.test_images[idx], pools.test_labels[idx], "test", idx)
    train = make_splits(pools, profile, config)["train"]
    mean, std = channel_stats(train.images) if config.normalize else (None, None)
    return BatchSource(split, config.batch_size, "none", device, False, torch.Generator().manual_seed(config.seed + 20_000),
                       mean, std, config.channels_last)


def split_overlap(splits: dict[str, Split], a: str, b: str) -> float:
    """Fraction of split ``b``'s images that are also in split ``a`` (same pool and index)."""
    if splits[a].pool != splits[b].pool:
        return 0.0
    common = np.intersect1d(splits[a].indices.numpy(), splits[b].indices.numpy())
    return len(common) / len(splits[b].indices)


# --------------------------------------------------------------------------- transforms


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units."""
    x = images.float().div_(255).transpose(0, 1).reshape(3, -1)
    return x.mean(dim=1), x.std(dim=1)


def rotate_batch(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate every image of ``x`` (B, C, H, W) counter-clockwise by its own angle.

    Matches ``torchvision.transforms.functional.rotate`` (nearest neighbour, zero fill, centre
    of the image) applied image by image, in one batched ``grid_sample``.
    """
    theta = torch.deg2rad(degrees.to(x.device, x.dtype))
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(cos)
    # affine_grid maps output to input coordinates: the inverse rotation.
    mat = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def shift_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Label-preserving translation: every image shifted by up to 2 px in each direction
    (edges repeated), nothing else."""
    b = x.shape[0]
    shifts = torch.randint(-2, 3, (b, 2), generator=generator)
    padded = F.pad(x, (2, 2, 2, 2), mode="replicate")
    rows = (torch.arange(32)[None, :] + 2 + shifts[:, :1]).to(x.device)
    cols = (torch.arange(32)[None, :] + 2 + shifts[:, 1:]).to(x.device)
    return padded[torch.arange(b, device=x.device)[:, None, None, None],
                  torch.arange(x.shape[1], device=x.device)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def shift_jitter_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Label-preserving augmentation: shifts of up to 2 px and brightness/contrast jitter."""
    b = x.shape[0]
    out = shift_batch(x, generator)
    bright = (torch.rand(b, 1, 1, 1, generator=generator) * 0.4 + 0.8).to(x.device)
    contrast = (torch.rand(b, 1, 1, 1, generator=generator) * 0.4 + 0.8).to(x.device)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean * bright).clamp_(0, 1)


def _no_transform(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return x


def _rotate180(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """RandomRotation(degrees=(0, 180)): one uniform angle per image."""
    return rotate_batch(x, torch.rand(x.shape[0], generator=generator) * 180.0)


# One function per transform: a run records the one it executed, so editing a transform reruns
# only the runs that used it.
TRANSFORMS = {"none": _no_transform, "rotate180": _rotate180, "shift_jitter": shift_jitter_batch, "shift": shift_batch}


def apply_transform(x: torch.Tensor, name: str, generator: torch.Generator) -> torch.Tensor:
    """Apply the named transform (see ``RunConfig.train_transform``) to a float batch in [0, 1]."""
    try:
        transform = TRANSFORMS[name]
    except KeyError:
        raise ValueError(f"unknown transform {name!r}") from None
    return transform(x, generator)


# --------------------------------------------------------------------------- batches


@dataclass
class BatchSource:
    """Batches of one split on one device, converted and augmented as whole tensors."""

    split: Split
    batch_size: int
    transform: str
    device: torch.device
    shuffle: bool
    generator: torch.Generator  # CPU generator: shuffling and augmentation draws
    mean: torch.Tensor | None = None  # normalisation statistics (None: no normalisation)
    std: torch.Tensor | None = None
    channels_last: bool = False
    limit: int = 0  # 0: the whole split; else only the first ``limit`` examples

    def __post_init__(self) -> None:
        n = len(self.split.labels) if not self.limit else min(self.limit, len(self.split.labels))
        # One copy of the uint8 images on the device; conversion happens per batch.
        self._images = self.split.images[:n].to(self.device)
        self._labels = self.split.labels[:n].to(self.device)
        if self.mean is not None:
            self._mean = self.mean.to(self.device).view(1, 3, 1, 1)
            self._std = self.std.to(self.device).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return math.ceil(len(self._labels) / self.batch_size)

    @property
    def num_examples(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self._labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = self._images[idx].float().div_(255)
            x = apply_transform(x, self.transform, self.generator)
            if self.mean is not None:
                x = (x - self._mean) / self._std
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self._labels[idx]


class PILDataset(torch.utils.data.Dataset):
    """The colleague's path: one PIL image at a time through torchvision transforms."""

    def __init__(self, split: Split, transform) -> None:
        self.images = split.images.permute(0, 2, 3, 1).numpy()  # HWC, as torchvision's SVHN does
        self.labels = split.labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def pil_transform(name: str, mean: torch.Tensor | None, std: torch.Tensor | None):
    """The torchvision transform pipeline equivalent to ``name`` (+ optional normalisation)."""
    from torchvision import transforms as T

    steps = []
    if name == "rotate180":
        steps.append(T.RandomRotation(degrees=(0, 180)))
    elif name == "shift_jitter":
        steps += [T.RandomCrop(32, padding=2, padding_mode="edge"), T.ColorJitter(brightness=0.2, contrast=0.2)]
    elif name == "shift":
        steps.append(T.RandomCrop(32, padding=2, padding_mode="edge"))
    steps.append(T.ToTensor())
    if mean is not None:
        steps.append(T.Normalize(mean.tolist(), std.tolist()))
    return T.Compose(steps)


def build_batches(splits: dict[str, Split], config: RunConfig, device: torch.device, eval_limit: int = 0):
    """Training and evaluation batch sources for ``config`` (fast tensor path or PIL path).

    Returns:
        A dict with ``train`` (shuffled) and one unshuffled source per evaluated split; the
        ``train`` evaluation source is under ``train_eval``.
    """
    mean, std = channel_stats(splits["train"].images) if config.normalize else (None, None)
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    eval_gen = torch.Generator().manual_seed(config.seed + 10_000)
    sources = {}
    if config.pipeline == "pil":
        loader_gen = torch.Generator().manual_seed(config.seed)

        def loader(split, transform, shuffle, limit=0):
            ds = PILDataset(split, pil_transform(transform, mean, std))
            if limit:
                ds = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
            return torch.utils.data.DataLoader(ds, batch_size=config.batch_size, shuffle=shuffle, generator=loader_gen)

        sources["train"] = loader(splits["train"], config.train_transform, True)
        for name in config.eval_splits:
            key = "train_eval" if name == "train" else name
            sources[key] = loader(splits[name], config.eval_transform, False, eval_limit if name == "train" else 0)
        return sources
    sources["train"] = BatchSource(splits["train"], config.batch_size, config.train_transform, device, True,
                                   shuffle_gen, mean, std, config.channels_last)
    for name in config.eval_splits:
        key = "train_eval" if name == "train" else name
        sources[key] = BatchSource(splits[name], config.batch_size, config.eval_transform, device, False, eval_gen,
                                   mean, std, config.channels_last, eval_limit if name == "train" else 0)
    return sources
