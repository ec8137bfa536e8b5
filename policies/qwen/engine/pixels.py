"""Qwen2.5-VL pixel values in torch, on the model's device: rescale, normalize, patchify.

transformers' image processor does this in numpy on the CPU (without torchvision only its PIL
variant exists): on this 2-core machine, quiet, 54–61 ms for a 1316×728 image and ~400 ms for a
3836×2156 one. The same arithmetic in torch takes 14 ms / 321 ms with two threads, and on a GPU it
runs where the tensors are needed anyway, after copying uint8 pixels (a quarter of the float
bytes). The output equals the processor's (`tests/policies/qwen/engine/test_pixels.py` checks it on random images):
patches ordered (h/merge, w/merge, merge, merge), each flattened as (channel, temporal, patch,
patch), the single frame repeated over the temporal patch.
Images must already be W′×H′ (see resize, or device_image on a GPU). Not for: resizing, or tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class PixelSpec:
    """What the processor would do to pixels; read it from a checkpoint's processor with `spec_of`."""

    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD
    rescale: float = 1 / 255
    patch: int = 14
    merge: int = 2
    temporal: int = 2


def spec_of(image_processor: Any) -> PixelSpec:
    def triple(value: Any, default: tuple[float, float, float]) -> tuple[float, float, float]:
        if value is None:
            return default
        values = [float(v) for v in (value if isinstance(value, list | tuple) else [value] * 3)]
        return values[0], values[1], values[2]

    return PixelSpec(
        mean=triple(getattr(image_processor, "image_mean", None), OPENAI_CLIP_MEAN),
        std=triple(getattr(image_processor, "image_std", None), OPENAI_CLIP_STD),
        rescale=float(getattr(image_processor, "rescale_factor", 1 / 255)),
        patch=int(getattr(image_processor, "patch_size", 14)),
        merge=int(getattr(image_processor, "merge_size", 2)),
        temporal=int(getattr(image_processor, "temporal_patch_size", 2)),
    )


def pixel_values(images: Sequence[Image.Image], spec: PixelSpec = PixelSpec(), device: Any = "cpu",
                 dtype: Any = None) -> tuple[Any, Any]:
    """(pixel_values [sum of grid_h·grid_w, 3·T·P·P], image_grid_thw [n, 3]) on `device`."""
    import torch

    dtype = dtype or torch.float32
    mean = torch.tensor(spec.mean, device=device, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(spec.std, device=device, dtype=torch.float32).view(3, 1, 1)
    patches, grids = [], []
    for image in images:
        flat, grid = _patchify(rgb_tensor(image, device), spec, mean, std)
        patches.append(flat.to(dtype))
        grids.append(grid)
    return torch.cat(patches), torch.tensor(grids, dtype=torch.long, device=device)


def rgb_tensor(image: Image.Image, device: Any) -> Any:
    """The image's RGB bytes as a (3, H, W) uint8 tensor on `device`; a `device_image.DeviceImage` is
    already one. Read through numpy's array interface: one copy, 7 ms for a 4K frame where
    `tobytes()` takes 35 ms (development machine)."""
    import warnings

    import numpy as np
    import torch

    if hasattr(image, "tensor"):
        return image.tensor.to(device)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    with warnings.catch_warnings():  # the array is read-only; this tensor is only read (copied or viewed)
        warnings.simplefilter("ignore", UserWarning)
        raw = torch.from_numpy(np.asarray(rgb))
    return raw.to(device, non_blocking=True).permute(2, 0, 1)


def _patchify(x: Any, spec: PixelSpec, mean: Any, std: Any) -> tuple[Any, list[int]]:
    channels, height, width = x.shape
    p, m, t = spec.patch, spec.merge, spec.temporal
    if height % (p * m) or width % (p * m):
        raise ValueError(f"image {width}x{height} is not a multiple of {p * m}: resize it to W′×H′ first")
    gh, gw = height // p, width // p
    # reorder the uint8 pixels first (a quarter of the bytes of floats), then normalize in place
    x = x.reshape(channels, gh // m, m, p, gw // m, m, p).permute(1, 4, 2, 5, 0, 3, 6).reshape(gh * gw, channels, p * p)
    x = x.float().mul_(spec.rescale).sub_(mean.view(1, channels, 1)).div_(std.view(1, channels, 1))
    x = x.unsqueeze(2).expand(gh * gw, channels, t, p * p)  # the one frame, repeated over time
    return x.reshape(gh * gw, channels * t * p * p), [1, gh, gw]
