"""Chat backends: the in-process transformers one and any OpenAI-compatible server."""
