"""The static-KV decode step (static_decode.py) against the model's own forward, on the tiny model (eager, CPU).

The CUDA-graph replay of the same step is measured on a GPU by `deskpilot bench model --variants static`;
here the step's arithmetic, its buffers and its use by the decoder are checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_decode import IMG, _request


@pytest.fixture(scope="module")
def backend(tiny_qwen_dir: Path):
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_settings(tiny_qwen_dir, repetition_penalty=1.0))


class _Record:
    """A logits processor that keeps a copy of every step's scores."""

    def __init__(self) -> None:
        self.scores: list = []

    def __call__(self, ids, scores):
        self.scores.append(scores.clone())
        return scores


def _decode(backend, decoder, tensors, tokens: int, penalty: float = 1.0):
    import torch
    from transformers import LogitsProcessorList

    from policies.qwen.engine.decode import Sampling

    record = _Record()
    with torch.inference_mode():
        result = decoder.generate(tensors, tokens, LogitsProcessorList([record]), backend.eos_ids,
                                  Sampling(repetition_penalty=penalty))
    return result, record.scores


@pytest.mark.model
@pytest.mark.parametrize("penalty", [1.0, 1.05])
def test_static_steps_give_the_model_forward_logits_and_tokens(backend, penalty: float) -> None:
    import torch

    from policies.qwen.engine.decode import Decoder

    static = Decoder(backend.model, IMG, static="eager")
    plain = Decoder(backend.model, IMG)
    for seed, history in ((0, 0), (1, 2), (2, 4)):  # prefix cache built, then reused; the prompt grows
        tensors = backend.prepare(_request("Click the Save button", seed, history=history)).tensors
        ours, our_scores = _decode(backend, static, tensors, 20, penalty)
        theirs, their_scores = _decode(backend, plain, tensors, 20, penalty)
        assert ours.tokens == theirs.tokens, seed
        assert ours.prefix_tokens == theirs.prefix_tokens
        assert len(our_scores) == len(their_scores) == len(ours.tokens)
        for step, (a, b) in enumerate(zip(our_scores, their_scores, strict=True)):
            assert torch.allclose(a, b, atol=2e-5, rtol=1e-4), (seed, step, float((a - b).abs().max()))


@pytest.mark.model
def test_the_buffers_grow_by_buckets_and_are_reused(backend) -> None:
    from policies.qwen.engine.decode import Decoder
    from policies.qwen.engine.static_decode import BUCKET

    decoder = Decoder(backend.model, IMG, static="eager")
    tensors = backend.prepare(_request("Type hello", tokens=4)).tensors
    prompt = tensors["input_ids"].shape[1]
    _decode(backend, decoder, tensors, 4)
    first = decoder.static._buffers
    assert first.length % BUCKET == 0 and first.length >= prompt + 5
    _decode(backend, decoder, tensors, 4)
    assert decoder.static._buffers is first  # same size: the same buffers (and, on a GPU, the same graph)
    _decode(backend, decoder, tensors, first.length - prompt + 1)
    assert decoder.static._buffers.length > first.length  # more room asked for: larger buffers


@pytest.mark.model
def test_the_step_refuses_what_does_not_fit(backend) -> None:
    import torch

    from policies.qwen.engine.decode import Decoder
    from policies.qwen.engine.static_decode import StaticDecode

    step = StaticDecode(backend.model, graphs=False)
    with pytest.raises(ValueError, match="outside the buffers"):
        step.step(1, 0, 0)  # begin was never called
    decoder = Decoder(backend.model, IMG)
    tensors = backend.prepare(_request("Type hello")).tensors
    cache = decoder._fresh_cache()
    with torch.inference_mode():
        decoder._forward(tensors["input_ids"], decoder_positions(decoder, tensors), cache, logits=False,
                         pixel_values=tensors["pixel_values"], image_grid_thw=tensors["image_grid_thw"])
        with pytest.raises(ValueError, match="expected"):
            step.begin(cache, tensors["input_ids"].shape[1] + 1, 4)
        step.begin(cache, tensors["input_ids"].shape[1], 4)
        with pytest.raises(ValueError, match="outside the buffers"):
            step.step(1, 0, step._buffers.length - 1)  # the scratch slot is not for tokens


def decoder_positions(decoder, tensors):
    from policies.qwen.engine.mrope import position_tensor

    return position_tensor(tensors["input_ids"], tensors["image_grid_thw"], IMG, decoder.merge)[0]


def test_static_modes_are_checked() -> None:
    from policies.qwen.engine.decode import _static
    from policies.qwen.engine.static_decode import usable

    with pytest.raises(ValueError, match="off, eager, graphs or compiled"):
        _static(object(), "fast")
    assert _static(object(), "off") is None

    class Split:
        def parameters(self):
            import torch

            return iter([torch.zeros(1), torch.zeros(1, device="meta")])

    assert usable(Split()) == "the model is split over several devices"


@pytest.mark.model
def test_the_backend_uses_cuda_graphs_only_on_a_gpu(tiny_qwen_dir: Path) -> None:
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend, static_mode

    assert static_mode(tiny_settings(tiny_qwen_dir), "cpu") == "off"
    assert static_mode(tiny_settings(tiny_qwen_dir), "cuda") == "graphs"
    assert static_mode(tiny_settings(tiny_qwen_dir, cuda_graphs=False), "cuda") == "off"
    backend = TransformersBackend(tiny_settings(tiny_qwen_dir))
    assert backend.decoder.static is None  # on this CPU: the model's own forward per token


@pytest.mark.model
@pytest.mark.parametrize(("dtype", "mode"), [("float32", "graphs"), ("bfloat16", "graphs"), ("float32", "compiled")])
def test_cuda_graph_replay_gives_the_eager_step_tokens(tiny_qwen_dir: Path, dtype: str, mode: str) -> None:
    """On a GPU: the captured graph (of the compiled step too) replays the eager step (same tokens, close
    logits), one capture per size."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (run on the device machine)")
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend
    from policies.qwen.engine.decode import Decoder

    backend = TransformersBackend(tiny_settings(tiny_qwen_dir, device_map="cuda", dtype=dtype,
                                                repetition_penalty=1.0, compile_decode=mode == "compiled"))
    assert backend.decoder.static is not None and backend.decoder.static.graphs
    eager = Decoder(backend.model, IMG, static="eager")
    tolerance = 2e-4 if dtype == "float32" else 5e-2
    for seed, history in ((0, 0), (1, 2), (2, 3)):
        tensors = {k: v.to("cuda") for k, v in backend.prepare(_request("Open the menu", seed,
                                                                        history=history)).tensors.items()}
        graphed, graph_scores = _decode(backend, backend.decoder, tensors, 20)
        stepped, step_scores = _decode(backend, eager, tensors, 20)
        assert graphed.tokens == stepped.tokens
        for a, b in zip(graph_scores, step_scores, strict=True):
            assert torch.allclose(a, b, atol=tolerance, rtol=tolerance)
    assert backend.decoder.static.captures == 1


@pytest.mark.model
@pytest.mark.slow
def test_the_compiled_step_gives_the_same_tokens(backend) -> None:
    """torch.compile of the step (fullgraph: no breaks, so nothing stops a CUDA graph capture) keeps the
    tokens and logits; on this CPU it is compiled, not graphed (~35 s on 2 cores)."""
    import torch

    from policies.qwen.engine.decode import Decoder

    compiled = Decoder(backend.model, IMG, static="compiled")
    assert not compiled.static.graphs and compiled.static.bucket == 4096
    tensors = backend.prepare(_request("Click the Save button", 3, history=1)).tensors
    ours, our_scores = _decode(backend, compiled, tensors, 8)
    theirs, their_scores = _decode(backend, Decoder(backend.model, IMG), tensors, 8)
    assert ours.tokens == theirs.tokens
    for a, b in zip(our_scores, their_scores, strict=True):
        assert torch.allclose(a, b, atol=2e-5, rtol=1e-4)
