"""The in-process fast path for Qwen2.5-VL: inputs built by hand, M-RoPE, pixel values on the GPU, our own
prefill/decode loop with a cached system prompt, static-KV decode with CUDA graphs, batched vision windows.
Not for: prompts, parsing or coordinates (those are the model's contract, in `policies.qwen`)."""
