"""Generated house numbers: the offline stand-in for SVHN.

Each image is a 32x32 RGB crop centred on one digit, with neighbouring digits of the same house
number partly visible left and right, drawn with Pillow from the TrueType fonts that ship inside
matplotlib. Colours, contrast, background texture, scale, shift, rotation (within +-12 degrees, so
a 6 and a 9 differ only by orientation), blur, sensor noise and JPEG artefacts vary per image.
Labels follow SVHN's uneven training distribution (many 1s, few 0s and 9s).

An image is a pure function of ``(seed, split, index)``: train and test draw from different
streams, so they are disjoint by construction, and any prefix of a pool is the same whatever its
length.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


# SVHN's training-split label counts (label 0 is the digit 0), used as class weights.
SVHN_TRAIN_LABEL_COUNTS = (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659)

PARAMS = {
    "size": 32,  # output side in pixels
    "canvas": 64,  # drawing side before the final downscale (anti-aliasing)
    "max_rotation_deg": 12.0,  # small tilt only: 6 and 9 must stay distinguishable
    "font_size": (34, 50),  # digit height range on the 64 px canvas
    "min_contrast": 28.0,  # lowest luminance gap between digit and background (0-255)
    "noise_sigma": (2.0, 16.0),
    "blur_radius": (0.0, 1.4),
    "jpeg_quality": (25, 90),
    "neighbour_probability": 0.8,  # chance of a visible digit on each side
    "split_streams": {"train": 0, "test": 1},
}

_FONT_STEMS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
               "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSerif", "DejaVuSerif-Bold",
               "DejaVuSerif-Italic", "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic",
               "cmr10", "cmb10", "cmss10", "cmtt10")


@lru_cache(maxsize=1)
def font_paths() -> tuple[str, ...]:
    """TrueType files shipped with matplotlib that have all ten digits."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = tuple(str(folder / f"{stem}.ttf") for stem in _FONT_STEMS if (folder / f"{stem}.ttf").exists())
    if not paths:
        raise RuntimeError(f"no usable TrueType fonts found in {folder}")
    return paths


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def fingerprint(seed: int) -> str:
    """Hash of this module's code (comments and docstrings aside), its fonts and the seed: a
    cache-key part that changes with any edit that can change a generated image."""
    from .executed_code import WHOLE, SourceIndex

    payload = {"code": SourceIndex().module("synthetic").hashes[WHOLE], "params": PARAMS, "seed": seed,
               "fonts": [Path(p).name for p in font_paths()]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _luminance(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground colours at least ``min_contrast`` apart in luminance."""
    while True:
        bg = rng.uniform(0, 255, size=3)
        fg = rng.uniform(0, 255, size=3)
        if abs(_luminance(bg) - _luminance(fg)) >= PARAMS["min_contrast"]:
            return bg, fg


def _background(rng: np.random.Generator, colour: np.ndarray, side: int) -> np.ndarray:
    """A flat, gradient or textured background around ``colour`` (float HxWx3)."""
    kind = rng.integers(3)
    img = np.broadcast_to(colour, (side, side, 3)).astype(np.float64)
    if kind == 1:  # linear gradient in a random direction
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:side, 0:side] / side - 0.5
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        img = img + ramp[..., None] * rng.uniform(-80, 80, size=3)
    elif kind == 2:  # low-frequency texture (bricks, plaster): upsampled coarse noise
        coarse = rng.normal(0, 1, size=(8, 8, 3))
        tex = np.asarray(Image.fromarray(((coarse * 40) + 128).clip(0, 255).astype(np.uint8)).resize(
            (side, side), Image.BICUBIC), dtype=np.float64) - 128
        img = img + tex * rng.uniform(0.3, 1.0)
    return img


def render_digit(seed: int, split: str, index: int) -> tuple[np.ndarray, int]:
    """One image (32x32x3 uint8) and its label, a pure function of its arguments."""
    stream = PARAMS["split_streams"][split]
    rng = np.random.default_rng([seed, stream, index])
    weights = np.asarray(SVHN_TRAIN_LABEL_COUNTS, dtype=np.float64)
    label = int(rng.choice(10, p=weights / weights.sum()))
    side = PARAMS["canvas"]
    bg, fg = _colours(rng)
    canvas = Image.fromarray(_background(rng, bg, side).clip(0, 255).astype(np.uint8))
    # A mask with the digit and its neighbours; painted in the foreground colour afterwards.
    mask = Image.new("L", (side * 2, side * 2), 0)
    draw = ImageDraw.Draw(mask)
    fonts = font_paths()
    font = _font(fonts[rng.integers(len(fonts))], int(rng.integers(*PARAMS["font_size"])))
    centre = side  # the mask is twice the canvas so rotated neighbours don't clip
    box = draw.textbbox((0, 0), str(label), font=font, anchor="mm")
    width = box[2] - box[0]
    gap = width * rng.uniform(0.15, 0.6)
    draw.text((centre, centre), str(label), fill=255, font=font, anchor="mm")
    for direction in (-1, 1):
        if rng.random() < PARAMS["neighbour_probability"]:
            other = str(rng.integers(10))
            other_box = draw.textbbox((0, 0), other, font=font, anchor="mm")
            offset = direction * (width / 2 + gap + (other_box[2] - other_box[0]) / 2)
            draw.text((centre + offset, centre), other, fill=255, font=font, anchor="mm")
    angle = rng.uniform(-PARAMS["max_rotation_deg"], PARAMS["max_rotation_deg"])
    mask = mask.rotate(angle, resample=Image.BILINEAR, center=(centre, centre))
    dx, dy = rng.uniform(-4, 4, size=2)
    mask = mask.crop((centre - side / 2 + dx, centre - side / 2 + dy, centre + side / 2 + dx, centre + side / 2 + dy))
    alpha = np.asarray(mask, dtype=np.float64)[..., None] / 255.0
    shade = rng.uniform(0.75, 1.0)  # uneven paint / lighting
    img = np.asarray(canvas, dtype=np.float64) * (1 - alpha) + fg * shade * alpha
    # Lighting falloff, then downscale to 32 px, blur, noise, JPEG.
    ramp = np.linspace(0, 1, side) if rng.random() < 0.5 else np.linspace(1, 0, side)
    img *= 1 - rng.uniform(0, 0.35) * ramp[None, :, None]
    small = Image.fromarray(img.clip(0, 255).astype(np.uint8)).resize((PARAMS["size"],) * 2, Image.BILINEAR)
    small = small.filter(ImageFilter.GaussianBlur(rng.uniform(*PARAMS["blur_radius"])))
    arr = np.asarray(small, dtype=np.float64) + rng.normal(0, rng.uniform(*PARAMS["noise_sigma"]), size=(32, 32, 3))
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(buf, format="JPEG",
                                                           quality=int(rng.integers(*PARAMS["jpeg_quality"])))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8), label


def generate(seed: int, split: str, count: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images of ``split`` as (N, 3, 32, 32) uint8 and (N,) int64 labels."""
    if split not in PARAMS["split_streams"]:
        raise ValueError(f"split must be one of {list(PARAMS['split_streams'])}, got {split!r}")
    images = np.empty((count, 3, 32, 32), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    iterator = range(count)
    if progress:
        from tqdm.auto import tqdm

        import sys

        iterator = tqdm(iterator, desc=f"generating {split} house numbers", unit="img", leave=False,
                        mininterval=1.0 if sys.stderr.isatty() else 30.0)
    for i in iterator:
        img, label = render_digit(seed, split, i)
        images[i] = img.transpose(2, 0, 1)
        labels[i] = label
    return images, labels
