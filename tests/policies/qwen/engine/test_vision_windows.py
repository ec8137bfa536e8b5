"""The batched-window vision attention (vision_windows.py) against transformers' per-window loop, tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.model
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("size", [(640, 400), (320, 200), (1000, 300)])
def test_the_vision_tower_gives_transformers_output(tiny_qwen_dir: Path, size: tuple[int, int], device: str) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (run on the device machine)")
    from test_transformers_backend import screenshot
    from transformers import Qwen2_5_VLForConditionalGeneration

    from policies.qwen.engine.pixels import pixel_values
    from policies.qwen.engine.vision_windows import install, transformers_loop
    from policies.qwen.resize import resize_for_model

    image, _ = resize_for_model(screenshot(*size), 3136, 200_704)
    pixels, grid = pixel_values([image, image.transpose(0)], device=device)  # two images: windows of both
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_qwen_dir, dtype=torch.float32,
                                                               attn_implementation="sdpa").eval().to(device)
    with torch.inference_mode():
        theirs = model.model.visual(pixels, grid_thw=grid)
        assert install(model) == len(model.model.visual.blocks)
        ours = model.model.visual(pixels, grid_thw=grid)
    theirs = getattr(theirs, "pooler_output", theirs)
    ours = getattr(ours, "pooler_output", ours)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-4), float((ours - theirs).abs().max())
    with torch.inference_mode(), transformers_loop(model) as patched:
        again = model.model.visual(pixels, grid_thw=grid)
    assert patched and torch.equal(getattr(again, "pooler_output", again), theirs)  # the loop, restored
    assert "forward" in vars(model.model.visual.blocks[0].attn)  # and ours back after the block


def test_window_indexes_by_hand() -> None:
    import torch

    from policies.qwen.engine.vision_windows import windows

    index, mask, flat = windows(torch.tensor([0, 3, 3, 5, 9], dtype=torch.int32))  # lengths 3, 0, 2, 4
    assert index.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [5, 6, 7, 8]]  # padding points anywhere (masked)
    assert mask[:, 0, 0].tolist() == [[True, True, True, False], [True, True, False, False], [True] * 4]
    assert flat.tolist() == [0, 1, 2, 4, 5, 8, 9, 10, 11]
    index, mask, flat = windows(torch.tensor([0, 4, 8]))
    assert mask is None and flat.tolist() == list(range(8))


def test_only_sdpa_models_are_patched(tiny_qwen_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    from transformers import Qwen2_5_VLForConditionalGeneration

    from policies.qwen.engine.vision_windows import install

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_qwen_dir, dtype=torch.float32,
                                                               attn_implementation="eager")
    assert install(model) == 0
