"""Qwen-VL-family model policies: Qwen2.5-VL, Qwen3-VL and their fine-tunes (UI-TARS-1.5, GTA1, UI-Venus,
Holo1.5), each spoken in its own dialect (`dialects`: prompt, resize factor, parser, coordinate space,
grammar), on two backends (in-process transformers; any OpenAI-compatible server such as vLLM or SGLang),
alone or as a planner + grounder pair (`planned`, with zoom-in re-grounding in `zoom`).

Heavy libraries (torch, transformers) are imported only inside the transformers backend.
"""
