"""Small pieces around `generate`: step timestamps, token blocking, the per-phase timings of a reply.

`StepClock` is a no-op logits processor whose first call marks the end of the prefill (vision
encoder + prompt), so time to first token and decode time per token come out of one `generate`.
Not for: constraining the output (constrained) or building inputs (transformers_inputs).
"""

from __future__ import annotations

import time
from typing import Any


class StepClock:
    """A no-op logits processor that stamps the time of every decoding step (first = prefill done)."""

    def __init__(self, sync: Any = None) -> None:
        self.stamps: list[float] = []
        self._sync = sync

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if not self.stamps and self._sync is not None:
            self._sync()  # the first logits are ready only when the prefill kernels are done
        self.stamps.append(time.perf_counter())
        return scores


class BlockTokens:
    """A logits processor that rules out some tokens (benchmarks: EOS, for an exact decode length)."""

    def __init__(self, token_ids: tuple[int, ...]) -> None:
        self.token_ids = list(token_ids)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        scores[:, self.token_ids] = float("-inf")
        return scores


def step_timings(started: float, generate_start: float, stamps: list[float], ended: float, tokens: int) -> dict:
    """ms of preprocess, prefill (to the first logits), decode, total; decode per token when > 1 token."""
    first = stamps[0] if stamps else ended
    decode_ms = (ended - first) * 1000
    timings = {
        "preprocess": (generate_start - started) * 1000,
        "prefill": (first - generate_start) * 1000,
        "decode": decode_ms,
        "total": (ended - started) * 1000,
    }
    if tokens > 1:
        timings["decode_per_token"] = decode_ms / (tokens - 1)
    return {k: round(v, 3) for k, v in timings.items()}
