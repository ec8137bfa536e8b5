"""A tiny random Qwen2.5-VL checkpoint, written offline into a directory for the model tests.

`build_tiny_qwen(dir)` (and `build_tiny_qwen3(dir, moe)` for Qwen3-VL) writes what a hub checkpoint
holds — config.json + weights, a byte-level
BPE tokenizer with the real special ids and the Qwen2.5-VL chat template (tokenizer.json,
tokenizer_config.json), preprocessor_config.json and generation_config.json — so tests load it
through the very `from_pretrained` path a real checkpoint takes. Sizes: 2 text layers of width 64,
2 vision blocks of width 32 (`architecture.SIZES["tiny"]`).
Not for: anything but tests (the weights are random; answers are noise).
"""

from __future__ import annotations

import json
from pathlib import Path

from policies.qwen.offline.architecture import ENDOFTEXT_ID, IM_END_ID, SIZES, make_config
from policies.qwen.offline.tokenizer import build_tokenizer

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def build_tiny_qwen(directory: str | Path, min_pixels: int = 3136, max_pixels: int = 1003520) -> Path:
    """Write a tiny random Qwen2.5-VL checkpoint into `directory` and return it."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(make_config(SIZES["tiny"])).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ENDOFTEXT_ID, eos_token_id=[IM_END_ID, ENDOFTEXT_ID], pad_token_id=ENDOFTEXT_ID,
    )
    model.save_pretrained(out)
    build_tokenizer().save_pretrained(out)
    _set_tokenizer_class(out / "tokenizer_config.json")
    (out / "preprocessor_config.json").write_text(json.dumps(_preprocessor_config(min_pixels, max_pixels), indent=2))
    return out


def build_tiny_qwen3(directory: str | Path, moe: bool = False) -> Path:
    """Write a tiny random Qwen3-VL checkpoint (the MoE class with `moe`) into `directory` and return it:
    config.json naming Qwen3VL(Moe)ForConditionalGeneration, the offline tokenizer (Qwen3-VL keeps
    Qwen2.5's special ids), and a preprocessor_config.json as the hub's Qwen3-VL ones: patch 16,
    merge 2, mean = std = 0.5, size {shortest_edge 65536, longest_edge 16777216}."""
    import torch
    import transformers
    from transformers import GenerationConfig

    from policies.qwen.offline.qwen3 import SIZES as QWEN3_SIZES
    from policies.qwen.offline.qwen3 import make_qwen3_config

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = make_qwen3_config(QWEN3_SIZES["tiny-moe" if moe else "tiny"])
    cls = transformers.Qwen3VLMoeForConditionalGeneration if moe else transformers.Qwen3VLForConditionalGeneration
    model = cls(config).eval()
    with torch.no_grad():  # norms start at 1.0: make them matter, so a step that skips q/k norms shows
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.5, 1.5)
    model.generation_config = GenerationConfig(
        bos_token_id=ENDOFTEXT_ID, eos_token_id=[IM_END_ID, ENDOFTEXT_ID], pad_token_id=ENDOFTEXT_ID,
    )
    model.save_pretrained(out)
    build_tokenizer().save_pretrained(out)
    _set_tokenizer_class(out / "tokenizer_config.json")
    half = [0.5, 0.5, 0.5]
    (out / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Qwen2VLImageProcessorFast", "processor_class": "Qwen3VLProcessor",
        "do_resize": True, "do_rescale": True, "do_normalize": True, "do_convert_rgb": True,
        "rescale_factor": 1 / 255, "resample": 3, "image_mean": half, "image_std": half,
        "patch_size": 16, "merge_size": 2, "temporal_patch_size": 2,
        "size": {"shortest_edge": 65536, "longest_edge": 16777216},
    }, indent=2))
    return out


def _set_tokenizer_class(path: Path) -> None:
    """Name the class the hub checkpoints name, so 4.57 and 5.x load it the way they load Qwen's."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tokenizer_class"] = "Qwen2Tokenizer"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _preprocessor_config(min_pixels: int, max_pixels: int) -> dict:
    return {
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
        "do_resize": True, "do_rescale": True, "do_normalize": True, "do_convert_rgb": True,
        "rescale_factor": 1 / 255, "resample": 3, "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
        "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2,
        "min_pixels": min_pixels, "max_pixels": max_pixels,
    }
