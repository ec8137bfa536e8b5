"""Models and tokenizers built with no download: random-weight Qwen2.5-VL of any size and an offline
tokenizer, for tests and benchmarks."""
