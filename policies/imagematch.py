"""Comparing a small crop of a recorded screenshot with the screen now, and finding it elsewhere.

Images are grayscale float arrays (`gray`). `similarity` is zero-mean normalized cross-correlation
(NCC), clipped to 0..1: it ignores uniform brightness changes (a hover highlight, a dimmed window)
but drops quickly when the structure moves or changes. Where either crop is featureless (std <
`FLAT_STD`) it compares pixels instead: the mean absolute difference of the mean-free crops (a thin
caret in an empty field costs little, text where there was none a lot), plus any brightness change
beyond `BRIGHTNESS_SLACK`, scaled so 64 gray levels of difference is 0.
`find` slides a crop over an image (NCC through FFT plus integral images, numpy only), coarse on a
downscaled copy, then refined at full resolution; it reports the best place, its score and the best
score elsewhere (to tell ambiguous matches).
Not for: deciding what to do about a mismatch (policies.scripted.verified does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom
FLAT_STD = 3.0  # gray levels: a crop flatter than this has no structure to correlate
BRIGHTNESS_SLACK = 32.0  # gray levels a flat crop may brighten or darken (hover) and still match
COARSE_SIDE = 640  # the coarse search runs on an image at most this wide/high


@dataclass(frozen=True)
class Match:
    left: int  # top-left corner of the best placement, in the searched image's pixels
    top: int
    score: float
    runner_up: float  # best score at least half a crop away from the best (ambiguity)


def gray(image: Image.Image) -> np.ndarray:
    import numpy as np

    return np.asarray(image.convert("L"), dtype=np.float64)


def crop_box(point: tuple[int, int], side: int, size: tuple[int, int]) -> Box:
    """A side×side box around `point`, shifted (not shrunk) to stay inside a `size` image when it fits."""
    (x, y), (width, height) = point, size
    w, h = min(side, width), min(side, height)
    left = min(max(x - w // 2, 0), width - w)
    top = min(max(y - h // 2, 0), height - h)
    return left, top, left + w, top + h


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two equal-size crops are, 0..1 (1 = the same; see the module doc)."""
    import numpy as np

    if a.shape != b.shape or a.size == 0:
        return 0.0
    sa, sb = float(a.std()), float(b.std())
    if sa < FLAT_STD or sb < FLAT_STD:  # too little structure to correlate: compare the pixels themselves
        ma, mb = float(a.mean()), float(b.mean())
        distance = float(np.abs((a - ma) - (b - mb)).mean()) + max(0.0, abs(ma - mb) - BRIGHTNESS_SLACK)
        return max(0.0, 1.0 - distance / 64.0)
    ncc = float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))
    return min(max(ncc, 0.0), 1.0)


def flat(a: np.ndarray) -> bool:
    return float(a.std()) < FLAT_STD


def find(template: np.ndarray, image: np.ndarray) -> Match | None:
    """Where `template` fits `image` best (None if it does not fit inside it, or is flat)."""
    th, tw = template.shape
    ih, iw = image.shape
    if th > ih or tw > iw or flat(template):
        return None
    factor = max(1, math.ceil(max(ih, iw) / COARSE_SIDE))
    factor = min(factor, max(1, min(th, tw) // 16))  # keep at least 16 px of template per side
    if factor == 1:
        scores = ncc_map(image, template)
        return _best(scores, (th, tw))
    small = ncc_map(_shrink(image, factor), _shrink(template, factor))
    coarse = _best(small, (th // factor, tw // factor))
    # refine around the coarse winner at full resolution
    pad = 2 * factor
    left, top = coarse.left * factor, coarse.top * factor
    x0, y0 = max(left - pad, 0), max(top - pad, 0)
    x1, y1 = min(left + tw + pad, iw), min(top + th + pad, ih)
    fine = ncc_map(image[y0:y1, x0:x1], template)
    best = _best(fine, (th, tw))
    return Match(x0 + best.left, y0 + best.top, best.score, coarse.runner_up)


def ncc_map(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """NCC of `template` at every placement inside `image`: shape (ih - th + 1, iw - tw + 1)."""
    import numpy as np

    th, tw = template.shape
    ih, iw = image.shape
    t = template - template.mean()
    t_norm = math.sqrt(float((t * t).sum()))
    shape = (_fast_len(ih + th - 1), _fast_len(iw + tw - 1))  # 5-smooth sizes: pocketfft is slow on primes
    spectrum = np.fft.rfft2(image, shape) * np.fft.rfft2(t[::-1, ::-1], shape)
    corr = np.fft.irfft2(spectrum, shape)[th - 1:ih, tw - 1:iw]
    n = th * tw
    sums, squares = _window_sum(image, th, tw), _window_sum(image * image, th, tw)
    variance = np.maximum(squares - sums * sums / n, 0.0)
    denominator = np.sqrt(variance) * t_norm
    flat_windows = variance < (FLAT_STD ** 2) * n
    out = np.where(flat_windows, 0.0, corr / np.where(denominator > 0, denominator, 1.0))
    return np.clip(out, -1.0, 1.0)


def _fast_len(n: int) -> int:
    """The smallest 2^a·3^b·5^c >= n."""
    best, p5 = 2 * n, 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _window_sum(a: np.ndarray, h: int, w: int) -> np.ndarray:
    import numpy as np

    c = np.pad(a, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


def _best(scores: np.ndarray, tsize: tuple[int, int]) -> Match:
    import numpy as np

    index = int(np.argmax(scores))
    top, left = divmod(index, scores.shape[1])
    best = float(scores[top, left])
    masked = scores.copy()
    ry, rx = max(tsize[0] // 2, 1), max(tsize[1] // 2, 1)
    masked[max(top - ry, 0):top + ry + 1, max(left - rx, 0):left + rx + 1] = -1.0
    runner_up = float(masked.max()) if masked.size else -1.0
    return Match(left, top, best, max(runner_up, 0.0))


def _shrink(a: np.ndarray, factor: int) -> np.ndarray:
    h, w = a.shape[0] // factor * factor, a.shape[1] // factor * factor
    return a[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
