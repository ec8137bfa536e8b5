"""The Qwen2.5-VL policy: prompt, image resizing, coordinate mapping, parsing, and two backends
(in-process transformers; any OpenAI-compatible server such as vLLM or SGLang).

Heavy libraries (torch, transformers) are imported only inside the transformers backend.
"""
