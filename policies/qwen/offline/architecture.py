"""Qwen2.5-VL architecture sizes as data, a config built from them in code, a random-weight model (no download).

For: the full-size random-weight benchmark (`deskpilot bench model --size 3B|7B`) and the tiny
random model the tests build offline. Token ids are the real Qwen2.5 ones, so a tokenizer holding
the real special tokens lines up with every size.
Not for: loading checkpoints (the transformers backend does that from a hub id or a directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.qwen.offline.tokenizer import (  # the vocabulary's special ids: the tokenizer's facts
    ENDOFTEXT_ID,
    IM_END_ID,
    IMAGE_PAD_ID,
    VIDEO_PAD_ID,
    VISION_END_ID,
    VISION_START_ID,
)

TOOL_CALL_END_ID = 151658


@dataclass(frozen=True)
class ArchSpec:
    """The sizes that differ between Qwen2.5-VL variants (see ../shared/QWEN25VL.md)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool
    mrope_section: tuple[int, int, int]
    vision_depth: int = 32
    vision_hidden: int = 1280
    vision_heads: int = 16
    vision_intermediate: int = 3420
    fullatt_blocks: tuple[int, ...] = (7, 15, 23, 31)


SIZES: dict[str, ArchSpec] = {
    "tiny": ArchSpec(
        hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, vocab=151936, tied=True,
        mrope_section=(2, 3, 3), vision_depth=2, vision_hidden=32, vision_heads=2,
        vision_intermediate=64, fullatt_blocks=(1,),
    ),
    "3B": ArchSpec(
        hidden=2048, intermediate=11008, layers=36, heads=16, kv_heads=2, vocab=151936, tied=True,
        mrope_section=(16, 24, 24),
    ),
    "7B": ArchSpec(
        hidden=3584, intermediate=18944, layers=28, heads=28, kv_heads=4, vocab=152064, tied=False,
        mrope_section=(16, 24, 24),
    ),
    "72B": ArchSpec(
        hidden=8192, intermediate=29568, layers=80, heads=64, kv_heads=8, vocab=152064, tied=False,
        mrope_section=(16, 24, 24), vision_intermediate=3456,
    ),
}


def transformers_major() -> int:
    """The installed transformers major version (4 or 5): argument names differ between them."""
    import transformers

    return int(transformers.__version__.split(".")[0])


def make_config(spec: ArchSpec) -> Any:
    """A `Qwen2_5_VLConfig` for `spec`, spelled for the installed transformers version."""
    from transformers import Qwen2_5_VLConfig

    rope = {"mrope_section": list(spec.mrope_section)}
    if transformers_major() >= 5:
        rope_args: dict[str, Any] = {"rope_parameters": {"rope_type": "default", "rope_theta": 1e6, **rope}}
    else:
        rope_args = {"rope_scaling": {"type": "mrope", **rope}, "rope_theta": 1e6}
    text = {
        "vocab_size": spec.vocab, "hidden_size": spec.hidden, "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers, "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads, "max_position_embeddings": 128000, "rms_norm_eps": 1e-6,
        "max_window_layers": spec.layers, "bos_token_id": ENDOFTEXT_ID, "eos_token_id": IM_END_ID,
        "tie_word_embeddings": spec.tied, **rope_args,
    }
    vision = {
        "depth": spec.vision_depth, "hidden_size": spec.vision_hidden, "num_heads": spec.vision_heads,
        "intermediate_size": spec.vision_intermediate, "out_hidden_size": spec.hidden, "patch_size": 14,
        "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112, "tokens_per_second": 2,
        "fullatt_block_indexes": list(spec.fullatt_blocks), "in_channels": 3,
    }
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=IMAGE_PAD_ID, video_token_id=VIDEO_PAD_ID,
        vision_start_token_id=VISION_START_ID, vision_end_token_id=VISION_END_ID,
        tie_word_embeddings=spec.tied, bos_token_id=ENDOFTEXT_ID, eos_token_id=IM_END_ID,
    )


def random_parts(size: str, dtype: str, attention: str, device: str, min_pixels: int = 3136,
                 max_pixels: int = 1280 * 28 * 28) -> tuple[Any, Any, Any]:
    """(model, tokenizer, image processor) for the `size` architecture, random weights, no download."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from policies.qwen.engine.inputs import load_image_processor
    from policies.qwen.offline.tokenizer import build_tokenizer

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
    dtype_arg = "dtype" if transformers_major() >= 5 else "torch_dtype"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(
            make_config(SIZES[size]), attn_implementation=attention, **{dtype_arg: getattr(torch, dtype)}
        )
    return model.eval(), build_tokenizer(), load_image_processor(None, min_pixels, max_pixels)
