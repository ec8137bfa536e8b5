"""Our decode loop (decode.py, mrope.py) against transformers' own positions and `generate`, on the tiny model."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import pytest

from policies.qwen.engine.mrope import mrope_positions

IMG = 151655


def test_mrope_positions_by_hand() -> None:
    # text, text, a 1x4x6 image (merged 2x3 tokens), text
    ids = [1, 2] + [IMG] * 6 + [3]
    axes, following = mrope_positions(ids, [(1, 4, 6)], IMG)
    assert axes[0] == [0, 1, 2, 2, 2, 2, 2, 2, 5]
    assert axes[1] == [0, 1, 2, 2, 2, 3, 3, 3, 5]
    assert axes[2] == [0, 1, 2, 3, 4, 2, 3, 4, 5]
    assert following == 6


def test_mrope_refuses_a_grid_that_does_not_match_the_tokens() -> None:
    with pytest.raises(ValueError, match="expected 6 image tokens"):
        mrope_positions([IMG] * 5 + [1], [(1, 4, 6)], IMG)
    with pytest.raises(ValueError, match="more image grids"):
        mrope_positions([1, 2], [(1, 2, 2)], IMG)



@pytest.fixture(scope="module")
def backend(tiny_qwen_dir: Path):
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_settings(tiny_qwen_dir, repetition_penalty=1.0))


def _request(task: str, seed: int = 0, tokens: int = 12, history: int = 0):
    from test_transformers_backend import screenshot

    from actions.schema import LeftClick
    from policies.base import Decision, Outcome, StepRecord
    from policies.qwen.messages import ModelRequest
    from policies.qwen.prompt import build_messages
    from policies.qwen.resize import resize_for_model

    image, frame = resize_for_model(screenshot(320, 200, seed), 3136, 100_352)
    steps = [StepRecord(i + 1, Decision(LeftClick(coordinate=(10 * i, 20))), None, Outcome("executed"))
             for i in range(history)]
    return ModelRequest(build_messages(task, image, frame, steps), max_new_tokens=tokens)


@pytest.mark.model
def test_positions_equal_transformers_get_rope_index(backend) -> None:
    import torch

    from policies.qwen.engine.mrope import position_tensor

    prepared = backend.prepare(_request("Open the menu"))
    t = prepared.tensors
    ours, following = position_tensor(t["input_ids"], t["image_grid_thw"], IMG)
    rope = backend.model.model.get_rope_index
    kwargs = {"image_grid_thw": t["image_grid_thw"], "attention_mask": t["attention_mask"]}
    if "mm_token_type_ids" in inspect.signature(rope).parameters:
        kwargs["mm_token_type_ids"] = (t["input_ids"] == IMG).long()
    theirs, deltas = rope(t["input_ids"], **kwargs)
    assert torch.equal(ours, theirs)
    assert following == int(theirs.max()) + 1 == t["input_ids"].shape[1] + int(deltas[0])


@pytest.mark.model
@pytest.mark.parametrize("penalty", [1.0, 1.05])
def test_greedy_tokens_equal_generate_with_and_without_the_prefix_cache(backend, penalty: float) -> None:
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    from policies.qwen.engine.decode import Decoder, Sampling

    eos = list(backend.eos_ids)
    cached_decoder = Decoder(backend.model, IMG)
    for seed, history in ((0, 0), (1, 2), (2, 3)):  # the same system prompt each time: the prefix is reused
        prepared = backend.prepare(_request("Click the Save button", seed, history=history))
        t = prepared.tensors
        with torch.inference_mode():
            reference = backend.model.generate(**t, generation_config=GenerationConfig(
                max_new_tokens=16, do_sample=False, repetition_penalty=penalty, eos_token_id=eos, pad_token_id=eos[0]))
        expected = reference[0, t["input_ids"].shape[1]:].tolist()
        for cached in (False, True):
            decoder = cached_decoder if cached else Decoder(backend.model, IMG, prefix_cache=False)
            with torch.inference_mode():
                got = decoder.generate(t, 16, LogitsProcessorList(), eos, Sampling(repetition_penalty=penalty))
            assert list(got.tokens) == expected, (seed, cached)
            assert (got.prefix_tokens > 500) == (cached and seed > 0)  # the first call builds the prefix


@pytest.mark.model
def test_the_prefix_is_computed_once_per_system_prompt(backend) -> None:
    import torch
    from transformers import LogitsProcessorList

    from policies.qwen.engine.decode import Decoder

    decoder = Decoder(backend.model, IMG)
    calls = []
    original = backend.model.forward

    def counting(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[1])
        return original(*args, **kwargs)

    backend.model.forward = counting
    try:
        for seed in range(3):
            t = backend.prepare(_request("Type hello", seed, tokens=3)).tensors
            with torch.inference_mode():
                decoder.generate(t, 3, LogitsProcessorList(), backend.eos_ids)
    finally:
        del backend.model.forward
    prefix = decoder._prefix
    assert prefix is not None and calls.count(len(prefix.ids)) == 1  # the prefix forward ran once
    assert len(calls) == 1 + 3 * 3  # prefix once; per call: the prompt's suffix and two decode steps


@pytest.mark.model
def test_a_set_stop_flag_interrupts_between_tokens(backend) -> None:
    import torch
    from transformers import LogitsProcessorList

    from policies.qwen.errors import GenerationInterrupted
    from policies.qwen.messages import ModelRequest

    stop = threading.Event()

    class StopAfterThree:
        count = 0

        def __call__(self, ids, scores):
            self.count += 1
            if self.count == 3:
                stop.set()
            return scores

    counter = StopAfterThree()
    t = backend.prepare(_request("Scroll down", tokens=50)).tensors
    with torch.inference_mode(), pytest.raises(GenerationInterrupted):
        backend.decoder.generate(t, 50, LogitsProcessorList([counter]), (), stop=stop)
    assert counter.count == 3  # no token after the flag was seen
    with pytest.raises(GenerationInterrupted):  # through the backend, as the kill switch does it
        backend.complete(ModelRequest(_request("x").messages, max_new_tokens=5, stop=stop))


@pytest.mark.model
def test_a_run_records_the_reused_prefix_from_its_second_step_on(tiny_qwen_dir: Path) -> None:
    """QwenPolicy over the real backend: step 1 builds the system prompt's cache, step 2 reuses it (trace meta)."""
    from test_transformers_backend import screenshot, tiny_settings

    from actions.geometry import Monitor, Screenshot
    from policies.base import Outcome, StepRecord
    from policies.qwen.backends.transformers_backend import TransformersBackend
    from policies.qwen.policy import QwenOptions, QwenPolicy

    policy = QwenPolicy(TransformersBackend(tiny_settings(tiny_qwen_dir)), QwenOptions(max_pixels=100_352,
                                                                                        max_new_tokens=4))
    shot = Screenshot(screenshot(640, 400), Monitor(0, 0, 640, 400))
    first = policy.decide("Open the menu", shot, [])
    second = policy.decide("Open the menu", shot, [StepRecord(1, first, None, Outcome("invalid", "x"))])
    assert first.meta["tokens"]["cached_prefix"] == 0
    assert second.meta["tokens"]["cached_prefix"] > 500
    assert second.meta["tokens"]["prompt"] > second.meta["tokens"]["cached_prefix"]
