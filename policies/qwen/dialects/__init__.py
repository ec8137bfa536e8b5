"""Dialects: everything model-specific about a Qwen-VL-family checkpoint, one module per family.

Why under `policies/qwen/`: every supported model is a Qwen-VL-architecture checkpoint (Qwen2.5-VL,
Qwen3-VL, and fine-tunes of them) that shares this package's engine, backends, messages, resize and
coordinate mapping; a dialect is the part that differs, so it lives next to what it plugs into and
the package imports stay one-way (dialects → qwen's modules, `QwenPolicy` → dialects).

`DIALECTS` names them; `dialect_for(name)` builds one; `detect(...)` picks one from a checkpoint's
config.json (model_type, architectures) and its name, which is what `model.dialect: auto` does.
Not for: loading models (backends) or engine choices (`architectures`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.qwen.dialects.base import Dialect, DialectError
from policies.qwen.dialects.grounders import GROUNDERS
from policies.qwen.dialects.qwen3vl import Qwen3VL
from policies.qwen.dialects.qwen25vl import Qwen25VL
from policies.qwen.dialects.uitars import UITars

AGENTS = ("qwen2.5-vl", "qwen3-vl", "ui-tars-1.5")
DIALECTS: tuple[str, ...] = (*AGENTS, *GROUNDERS)
# Name fragments (lower case, '_' and ' ' read as '-') of fine-tunes whose config says only "qwen2_5_vl".
_NAMED = (("ui-tars-1.5", "ui-tars-1.5"), ("ui-tars", "ui-tars-1.5"), ("gta1", "gta1"),
          ("ui-venus-ground", "ui-venus-ground"), ("holo1.5", "holo1.5"), ("holo1-5", "holo1.5"),
          ("qwen3-vl", "qwen3-vl"), ("qwen3vl", "qwen3-vl"), ("qwen2.5-vl", "qwen2.5-vl"),
          ("qwen2-5-vl", "qwen2.5-vl"))
_TYPES = {"qwen2_5_vl": "qwen2.5-vl", "qwen3_vl": "qwen3-vl", "qwen3_vl_moe": "qwen3-vl"}


def dialect_for(name: str, *, extended_actions: bool = False, thinking: bool = False) -> Dialect:
    """The dialect called `name` (one of DIALECTS); DialectError naming the choices otherwise."""
    if name == "qwen2.5-vl":
        return Qwen25VL(extended=extended_actions)
    if name == "qwen3-vl":
        return Qwen3VL(thinking=thinking)
    if name == "ui-tars-1.5":
        return UITars()
    if name in GROUNDERS:
        return GROUNDERS[name]()
    raise DialectError(f"unknown dialect {name!r}; expected one of: {', '.join(DIALECTS)}")


def detect(name: str, config: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(dialect, why) for a checkpoint called `name` whose config.json is `config` (None: not at hand).

    Fine-tunes keep their base's model_type, so a known name fragment wins over the config; then the
    config's model_type / architectures; then the name alone; else qwen2.5-vl (say so).
    """
    folded = "-".join(name.lower().replace("_", "-").split())
    for fragment, dialect in _NAMED[:6]:
        if fragment in folded:
            return dialect, f"the name {name!r}"
    if config:
        model_type = str(config.get("model_type", ""))
        if model_type in _TYPES:
            return _TYPES[model_type], f"config.json model_type {model_type}"
        for arch in config.get("architectures") or []:
            if str(arch).startswith("Qwen3VL"):
                return "qwen3-vl", f"config.json architectures {arch}"
            if str(arch).startswith("Qwen2_5_VL"):
                return "qwen2.5-vl", f"config.json architectures {arch}"
    for fragment, dialect in _NAMED[6:]:
        if fragment in folded:
            return dialect, f"the name {name!r}"
    return "qwen2.5-vl", f"the default (neither config.json nor the name {name!r} says; set model.dialect)"


def is_thinking(name: str) -> bool:
    """Qwen3-VL *-Thinking checkpoints reason in <think>…</think> before answering."""
    return "thinking" in name.lower()


__all__ = ["AGENTS", "DIALECTS", "Dialect", "DialectError", "detect", "dialect_for", "is_thinking"]
