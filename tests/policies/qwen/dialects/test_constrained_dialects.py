"""Constrained decoding with each dialect's grammar on the tiny random Qwen2.5-VL: every answer parses.

Sampling at temperature 1 from random weights wanders everywhere the grammar allows; the dialect's own
parser must accept every answer, finished within the token budget. (Qwen3-VL's grammar runs on its own
tiny checkpoint in test_qwen3_model.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actions.geometry import Monitor, Screenshot
from agent.config import ModelSettings
from policies.qwen.dialects import dialect_for
from policies.qwen.policy import QwenOptions, QwenPolicy

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def sampling_backend(tiny_qwen_dir: Path):
    from policies.qwen.backends.transformers_backend import TransformersBackend

    settings = ModelSettings(name=str(tiny_qwen_dir), dtype="float32", device_map="cpu", attn_implementation="sdpa",
                             temperature=1.0, top_p=1.0, top_k=0, repetition_penalty=1.0, min_pixels=3136,
                             max_pixels=100_352, decoding="constrained")
    return TransformersBackend(settings)


@pytest.mark.parametrize(("name", "budget"), [("ui-tars-1.5", 40), ("ui-tars-1.5", 90), ("qwen2.5-vl", 40),
                                              ("gta1", 40)])
def test_every_sampled_constrained_answer_parses(sampling_backend, name: str, budget: int) -> None:
    import torch

    dialect = dialect_for(name)
    policy = QwenPolicy(sampling_backend, QwenOptions(min_pixels=3136, max_pixels=100_352, constrained=True,
                                                      max_new_tokens=budget), dialect)
    rng = np.random.default_rng(budget)
    shot = Screenshot(Image.fromarray(rng.integers(0, 256, (300, 480, 3), dtype=np.uint8)), Monitor(0, 0, 480, 300))
    if "agent" not in dialect.roles:  # a grounder has no grammar: constrained is simply off
        assert dialect.grammar(policy.resized(shot.image)[1]) is None
        return
    for seed in range(6):
        torch.manual_seed(seed)
        decision = policy.decide("Press OK", shot, ())
        assert decision.action is not None, (decision.error, decision.raw_text)
        assert decision.meta["tokens"]["completion"] <= budget
