"""Per model architecture: which transformers class loads it, and which engine optimisations are proven on it.

`MODEL_CLASSES` maps config.json's model_type to the class (the MoE class for Qwen3-VL-MoE).
`VERIFIED` lists, per model_type, the optimisations whose output a test compares with the model's own
path on CPU: prefix_cache (logits/tokens vs `generate`); static_decode (the static-KV step's logits vs
the model's forward, per step: Qwen2.5-VL, and Qwen3-VL dense and MoE with their q/k RMS norms, in
tests/policies/qwen/dialects/test_qwen3_model.py); vision_windows (batched window attention vs
transformers' loop: Qwen2.5-VL only, Qwen3-VL's vision tower has no windows); device_pixels and
device_resize (pixel values vs the image processor; the resize is the same bicubic for every model).
Anything not listed runs transformers' own path, and `unverified` says which were asked for and
skipped, once.
Not for: dialect choices (prompt, parser) — a fine-tune keeps its base architecture's entry.
"""

from __future__ import annotations

from typing import Any

MODEL_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
    "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
}
_ALL = frozenset({"prefix_cache", "static_decode", "vision_windows", "device_pixels", "device_resize"})
VERIFIED: dict[str, frozenset[str]] = {
    "qwen2_5_vl": _ALL,
    "qwen3_vl": _ALL - {"vision_windows"},  # its vision tower has no windows to batch
    "qwen3_vl_moe": _ALL - {"vision_windows"},
}


def model_class_name(config: Any) -> str:
    """The class for a loaded config (its model_type, else its first architecture, else Qwen2.5-VL's)."""
    model_type = str(getattr(config, "model_type", ""))
    if model_type in MODEL_CLASSES:
        return MODEL_CLASSES[model_type]
    architectures = getattr(config, "architectures", None) or []
    return str(architectures[0]) if architectures else MODEL_CLASSES["qwen2_5_vl"]


def unverified(model_type: str, options: Any) -> tuple[str, ...]:
    """One note per optimisation the options ask for that is not proven on `model_type`."""
    verified = VERIFIED.get(model_type, frozenset())
    asked = {"prefix_cache": options.prefix_cache, "static_decode": options.cuda_graphs,
             "device_resize": options.resize_on_device}
    return tuple(f"{name} is not verified for {model_type or 'this model'}: transformers' own path is used"
                 for name, on in asked.items() if on and name not in verified)
