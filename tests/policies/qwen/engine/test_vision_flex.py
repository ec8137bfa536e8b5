"""FlexAttention for the vision tower (vision_flex.py) against transformers' per-window loop and the
batched-SDPA path, tiny model; on the CPU flex_attention is torch's unfused path, so only equality
(and a timing print) here — its speed is a GPU figure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


def _tower(tiny_qwen_dir: Path, device: str):
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_qwen_dir, dtype=torch.float32,
                                                              attn_implementation="sdpa").eval().to(device)


def _out(model, pixels, grid):
    out = model.model.visual(pixels, grid_thw=grid)
    return getattr(out, "pooler_output", out)


@pytest.mark.model
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("size", [(640, 400), (1000, 300)])
def test_flex_vision_attention_gives_transformers_output(tiny_qwen_dir: Path, size: tuple[int, int],
                                                         device: str) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (run on the device machine)")
    from test_transformers_backend import screenshot

    from policies.qwen.engine.pixels import pixel_values
    from policies.qwen.engine.vision_windows import install
    from policies.qwen.resize import resize_for_model

    image, _ = resize_for_model(screenshot(*size), 3136, 200_704)
    pixels, grid = pixel_values([image, image.transpose(0)], device=device)  # two images: windows of both
    loop, sdpa, flex = (_tower(tiny_qwen_dir, device) for _ in range(3))
    assert install(sdpa, "sdpa") == install(flex, "flex") == len(flex.model.visual.blocks)
    timings = {}
    with torch.inference_mode():
        theirs = _out(loop, pixels, grid)
        for name, model in (("sdpa", sdpa), ("flex", flex)):
            _out(model, pixels, grid)  # first call: masks, and on a GPU the flex compile
            started = time.perf_counter()
            for _ in range(3):
                out = _out(model, pixels, grid)
            timings[name] = (time.perf_counter() - started) / 3 * 1000
            assert torch.allclose(out, theirs, atol=1e-5, rtol=1e-4), (name, float((out - theirs).abs().max()))
    print(f"\nvision tower {size} x2 on {device}: sdpa {timings['sdpa']:.1f} ms, flex {timings['flex']:.1f} ms")


def test_window_mask_by_hand() -> None:
    import torch

    from policies.qwen.engine.vision_flex import window_mask

    mask = window_mask(torch.tensor([0, 3, 3, 5, 9], dtype=torch.int32))
    dense = mask.to_dense() if hasattr(mask, "to_dense") else None
    assert dense is not None  # one block (9 < 128) that holds every window: kept
    assert mask.shape[-2:] == (9, 9)


def test_an_unknown_kernel_is_refused(tiny_qwen_dir: Path) -> None:
    from policies.qwen.engine.vision_windows import install

    with pytest.raises(ValueError, match="sdpa or flex"):
        install(_tower(tiny_qwen_dir, "cpu"), "triton")


@pytest.mark.model
def test_the_backend_setting_routes_the_tower_through_flex(tiny_qwen_dir: Path) -> None:
    from test_decode import _request
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend
    from policies.qwen.engine.vision_flex import flex_forward

    replies = []
    for kernel in ("sdpa", "flex"):
        backend = TransformersBackend(tiny_settings(tiny_qwen_dir, repetition_penalty=1.0, vision_attention=kernel))
        forward = backend.model.model.visual.blocks[0].attn.forward
        assert (forward.__func__ is flex_forward) == (kernel == "flex")
        replies.append(backend.complete(_request("Click OK", tokens=12)).text)
    assert replies[0] == replies[1]
