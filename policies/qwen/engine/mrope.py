"""Qwen2.5-VL's 3-D rotary positions (M-RoPE) for a prompt of text and still images, computed here.

Why here and not `model.model.get_rope_index`: its signature changes between transformers 4.57 and
5.x, and `generate` recomputes positions only for a prompt that starts from an empty cache, so a
prompt whose system-prompt prefix is already cached (see `decode`) needs its positions from us.
The rule, as in transformers: a text token takes the next position on all three axes; an image of
grid (t, h, w) patches, merged m×m, takes t·(h/m)·(w/m) tokens whose (temporal, height, width)
positions are start + (0, row, column), and the text after it starts at start + max(h, w)/m.
`tests/policies/qwen/engine/test_decode.py` checks the result against `get_rope_index` of the installed transformers.
Not for: videos (the agent sends screenshots only) or batches (one prompt at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def mrope_positions(input_ids: Sequence[int], grids: Sequence[Sequence[int]], image_token_id: int,
                    merge: int = 2) -> tuple[list[list[int]], int]:
    """The (3, L) positions of `input_ids` and the position the first generated token takes.

    `grids` holds each image's (t, h, w) in patches, in prompt order; each run of image tokens must
    be exactly one image's t·(h/merge)·(w/merge) tokens.
    """
    axes: list[list[int]] = [[], [], []]
    images = iter(grids)
    position, i, n = 0, 0, len(input_ids)
    while i < n:
        if input_ids[i] != image_token_id:
            for axis in axes:
                axis.append(position)
            position, i = position + 1, i + 1
            continue
        t, h, w = (int(v) for v in next(images))
        rows, cols = h // merge, w // merge
        count = t * rows * cols
        if input_ids[i:i + count] != [image_token_id] * count:
            raise ValueError(f"image at token {i}: expected {count} image tokens for grid {t}x{h}x{w}")
        for frame in range(t):
            for row in range(rows):
                axes[0].extend([position + frame] * cols)
                axes[1].extend([position + row] * cols)
                axes[2].extend(position + col for col in range(cols))
        position, i = position + max(rows, cols), i + count
    if next(images, None) is not None:
        raise ValueError("more image grids than images in the prompt")
    return axes, position


def position_tensor(input_ids: Any, grid_thw: Any, image_token_id: int, merge: int = 2) -> tuple[Any, int]:
    """`mrope_positions` for a (1, L) id tensor and an (N, 3) grid tensor: a (3, 1, L) long tensor."""
    import torch

    grids = grid_thw.tolist() if grid_thw is not None else []
    axes, following = mrope_positions(input_ids[0].tolist(), grids, image_token_id, merge)
    return torch.tensor(axes, dtype=torch.long, device=input_ids.device).unsqueeze(1), following
