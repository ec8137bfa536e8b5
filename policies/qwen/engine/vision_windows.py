"""Qwen2.5-VL's vision attention without flash-attn in one SDPA call per layer: windows batched, not looped.

The vision tower attends within windows of 8×8 patches in 28 of its 32 layers. With flash-attn,
transformers passes all windows to one variable-length kernel; with SDPA it splits the patches
per window (a host sync for the lengths) and calls attention once per window: for a 1080p
screenshot (~4,800 patches, ~75 windows) about 2,100 small calls per image, which made the vision
encoder 113 ms of a 450 ms 7B step on an H200. Here the windows are gathered into one padded batch
[windows, heads, longest, head_dim] with a key mask for the padding, attended in one
`scaled_dot_product_attention` call and scattered back, per layer; the index tensors are computed
once per `cu_seqlens` (all 28 window layers share one, the 4 full-attention layers another).
The projections and rotary embedding are the model's own; tests/policies/qwen/engine/test_vision_windows.py checks the
vision tower's output against transformers' per-window loop.
Not for: flash_attention_2 (already one kernel) or eager attention (left as transformers has it).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def install(model: Any, kernel: str = "sdpa") -> int:
    """Route the vision attention of an SDPA `model` through `windowed_forward` (kernel `sdpa`) or
    vision_flex's `flex_forward` (kernel `flex`); returns the layers patched."""
    if model.config.vision_config._attn_implementation != "sdpa":
        return 0
    if kernel not in ("sdpa", "flex"):
        raise ValueError(f"the vision attention kernel is sdpa or flex, not {kernel!r}")
    forward: Any = windowed_forward
    shared: Any = _Windows()  # the blocks share cu_seqlens tensors, so they share the indexes
    if kernel == "flex":
        from policies.qwen.engine.vision_flex import FlexWindows, flex_forward

        forward, shared = flex_forward, FlexWindows()
    blocks = getattr(getattr(model.model, "visual", None), "blocks", None) or []
    patched = 0
    for block in blocks:
        attention = block.attn
        rope = getattr(sys.modules[type(attention).__module__], "apply_rotary_pos_emb_vision", None)
        if rope is None or not hasattr(attention, "qkv"):
            return patched  # an unknown layout: keep transformers' own
        attention._rope = rope
        attention._windows = shared
        attention.forward = types.MethodType(forward, attention)
        patched += 1
    return patched


@contextmanager
def transformers_loop(model: Any) -> Iterator[bool]:
    """Within the block, the vision attention is transformers' own again (benchmarks compare the two);
    yields whether anything had been installed."""
    blocks = getattr(getattr(model.model, "visual", None), "blocks", None) or []
    patched = [block.attn for block in blocks if "forward" in vars(block.attn)]
    saved = [attention.__dict__.pop("forward") for attention in patched]
    try:
        yield bool(patched)
    finally:
        for attention, forward in zip(patched, saved, strict=True):
            attention.forward = forward


def windowed_forward(self: Any, hidden_states: Any, cu_seqlens: Any, position_embeddings: Any = None,
                     **kwargs: Any) -> Any:
    """The attention of one vision block over all windows at once (the block passes `cu_seqlens`)."""
    from torch.nn.functional import scaled_dot_product_attention

    if position_embeddings is None:
        raise ValueError("vision attention needs position_embeddings (transformers 4.57 or later)")
    length = hidden_states.shape[0]
    q, k, v = self.qkv(hidden_states).reshape(length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = self._rope(q, k, cos, sin)  # [patches, heads, head_dim]
    index, mask, flat = self._windows.of(cu_seqlens)
    batch = [t[index].transpose(1, 2) for t in (q, k, v)]  # [windows, heads, longest, head_dim]
    scale = getattr(self, "scaling", None) or q.shape[-1] ** -0.5
    out = scaled_dot_product_attention(*batch, attn_mask=mask, scale=scale)
    out = out.transpose(1, 2).reshape(-1, self.num_heads, out.shape[-1])[flat]  # back to [patches, heads, dim]
    return self.proj(out.reshape(length, -1))


class _Windows:
    """Gather/scatter indexes per `cu_seqlens` tensor, kept for the tensors of the current forward."""

    def __init__(self) -> None:
        self._known: list[tuple[Any, tuple[Any, Any, Any]]] = []

    def of(self, cu_seqlens: Any) -> tuple[Any, Any, Any]:
        for tensor, found in self._known:
            if tensor is cu_seqlens:
                return found
        found = windows(cu_seqlens)
        self._known = [*self._known[-1:], (cu_seqlens, found)]  # holding the tensor keeps its id unique
        return found


def windows(cu_seqlens: Any) -> tuple[Any, Any, Any]:
    """(index [windows, longest] into the patches, key mask [windows, 1, 1, longest] or None when no
    window is padded, flat [patches]: where each patch sits in the padded batch)."""
    import torch

    starts, lengths = cu_seqlens[:-1], cu_seqlens[1:] - cu_seqlens[:-1]
    starts, lengths = starts[lengths > 0], lengths[lengths > 0]
    longest = int(lengths.max())  # one host sync per cu_seqlens, not per window
    offsets = torch.arange(longest, device=cu_seqlens.device)
    valid = offsets[None, :] < lengths[:, None]
    total = int(cu_seqlens[-1])
    index = (starts[:, None] + offsets[None, :]).clamp(max=total - 1)
    flat = (torch.arange(len(lengths), device=cu_seqlens.device)[:, None] * longest + offsets[None, :])[valid]
    mask = None if bool(valid.all()) else valid[:, None, None, :]
    return index, mask, flat
