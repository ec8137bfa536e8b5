"""Qwen2.5-VL's vision attention as one FlexAttention call per layer: windows as a block-sparse mask.

An alternative to vision_windows' batched SDPA (`model.vision_attention: flex`): instead of
gathering the windows into a padded batch and scattering them back, all patches stay in one
sequence [1, heads, patches, head_dim] and `torch.nn.attention.flex_attention` attends each patch
only to the patches of its own window (or image, in the 4 full-attention layers) through a block
mask built once per `cu_seqlens` — no padding, no gather/scatter, and on a GPU one fused kernel
(compiled with torch.compile) that skips the blocks outside the windows. On the CPU flex_attention
runs unfused (a reference path, slower than SDPA); it is for GPUs, where its figure is still to be
taken against the SDPA path. tests/policies/qwen/engine/test_vision_flex.py checks it against
transformers' per-window loop.
Not for: choosing between the kernels (the backend reads the setting) or flash_attention_2 models.
"""

from __future__ import annotations

from typing import Any


def flex_forward(self: Any, hidden_states: Any, cu_seqlens: Any, position_embeddings: Any = None,
                 **kwargs: Any) -> Any:
    """The attention of one vision block, all windows in one flex_attention call."""
    if position_embeddings is None:
        raise ValueError("vision attention needs position_embeddings (transformers 4.57 or later)")
    length = hidden_states.shape[0]
    q, k, v = self.qkv(hidden_states).reshape(length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = self._rope(q, k, cos, sin)  # [patches, heads, head_dim]
    mask = self._windows.of(cu_seqlens)
    scale = getattr(self, "scaling", None) or q.shape[-1] ** -0.5
    q, k, v = (t.transpose(0, 1).unsqueeze(0) for t in (q, k, v))  # [1, heads, patches, head_dim]
    out = _kernel(q.device.type)(q, k, v, block_mask=mask, scale=scale)
    return self.proj(out[0].transpose(0, 1).reshape(length, -1))


class FlexWindows:
    """The block mask per `cu_seqlens` tensor, kept for the tensors of the current forward."""

    def __init__(self) -> None:
        self._known: list[tuple[Any, Any]] = []

    def of(self, cu_seqlens: Any) -> Any:
        for tensor, found in self._known:
            if tensor is cu_seqlens:
                return found
        found = window_mask(cu_seqlens)
        self._known = [*self._known[-1:], (cu_seqlens, found)]
        return found


def window_mask(cu_seqlens: Any) -> Any:
    """A BlockMask letting patch q see patch k only when both lie in the same [cu_seqlens[i], cu_seqlens[i+1])."""
    import torch
    from torch.nn.attention.flex_attention import create_block_mask

    total = int(cu_seqlens[-1])
    positions = torch.arange(total, device=cu_seqlens.device)
    window = torch.searchsorted(cu_seqlens[1:].contiguous(), positions, right=True)

    def same_window(batch: Any, head: Any, q: Any, k: Any) -> Any:
        return window[q] == window[k]

    return create_block_mask(same_window, None, None, total, total, device=cu_seqlens.device)


_COMPILED: dict[str, Any] = {}


def _kernel(device_type: str) -> Any:
    """flex_attention, compiled (a fused kernel) on a GPU; as is elsewhere (torch's unfused path)."""
    from torch.nn.attention.flex_attention import flex_attention

    if device_type != "cuda":
        return flex_attention
    if "cuda" not in _COMPILED:
        import torch

        _COMPILED["cuda"] = torch.compile(flex_attention, dynamic=False)
    return _COMPILED["cuda"]
