"""Qwen3-VL architecture sizes as data and a config built from them in code (no download): dense and MoE.

For: the tiny random Qwen3-VL checkpoints the tests build offline (tests/tiny_qwen.py), loaded through
the same `from_pretrained` path as a real checkpoint. The token ids are Qwen2.5's (Qwen3-VL keeps
them: `<|image_pad|>` 151655, `<|vision_start|>` 151652, `<|im_end|>` 151645), so the offline
tokenizer (`offline.tokenizer`) lines up. The vision tower is Qwen3-VL's: patch 16, merge 2 (factor
32), learned position embeddings, DeepStack features from `deepstack` blocks, no windows.
Not for: loading checkpoints (the transformers backend does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENDOFTEXT_ID, IM_END_ID = 151643, 151645
VISION_START_ID, VISION_END_ID, IMAGE_PAD_ID, VIDEO_PAD_ID = 151652, 151653, 151655, 151656


@dataclass(frozen=True)
class Qwen3Spec:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    mrope_section: tuple[int, int, int]  # sums to head_dim / 2
    vision_depth: int
    vision_hidden: int
    vision_heads: int
    vision_intermediate: int
    vision_positions: int  # a square number: the learned position grid
    deepstack: tuple[int, ...]
    vocab: int = 151936
    tied: bool = True
    experts: int = 0  # > 0: the MoE class
    experts_per_token: int = 2
    moe_intermediate: int = 32


SIZES: dict[str, Qwen3Spec] = {
    "tiny": Qwen3Spec(hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, head_dim=16,
                      mrope_section=(2, 3, 3), vision_depth=2, vision_hidden=32, vision_heads=2,
                      vision_intermediate=64, vision_positions=144, deepstack=(0, 1)),
}
SIZES["tiny-moe"] = Qwen3Spec(**{**SIZES["tiny"].__dict__, "experts": 4})


def make_qwen3_config(spec: Qwen3Spec) -> Any:
    """A `Qwen3VLConfig` (or `Qwen3VLMoeConfig` when `spec.experts`) for `spec`."""
    from transformers import Qwen3VLConfig, Qwen3VLMoeConfig

    text: dict[str, Any] = {
        "vocab_size": spec.vocab, "hidden_size": spec.hidden, "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers, "num_attention_heads": spec.heads, "num_key_value_heads": spec.kv_heads,
        "head_dim": spec.head_dim, "max_position_embeddings": 262144, "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5e6, "mrope_section": list(spec.mrope_section),
                            "mrope_interleaved": True},
        "tie_word_embeddings": spec.tied, "bos_token_id": ENDOFTEXT_ID, "eos_token_id": IM_END_ID,
    }
    if spec.experts:
        text.update(num_experts=spec.experts, num_experts_per_tok=spec.experts_per_token,
                    moe_intermediate_size=spec.moe_intermediate, decoder_sparse_step=1)
    vision = {
        "depth": spec.vision_depth, "hidden_size": spec.vision_hidden, "num_heads": spec.vision_heads,
        "intermediate_size": spec.vision_intermediate, "out_hidden_size": spec.hidden, "patch_size": 16,
        "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": spec.vision_positions,
        "deepstack_visual_indexes": list(spec.deepstack), "in_channels": 3,
    }
    cls = Qwen3VLMoeConfig if spec.experts else Qwen3VLConfig
    return cls(text_config=text, vision_config=vision, image_token_id=IMAGE_PAD_ID, video_token_id=VIDEO_PAD_ID,
               vision_start_token_id=VISION_START_ID, vision_end_token_id=VISION_END_ID,
               tie_word_embeddings=spec.tied)
