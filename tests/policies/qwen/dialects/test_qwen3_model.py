"""Tiny random Qwen3-VL checkpoints (dense and MoE) through the real load → prompt → generate → parse path.

Also the proofs behind `architectures.VERIFIED` for Qwen3-VL: our pixel values equal the checkpoint's
image processor (patch 16, mean = std = 0.5), and our decoder with the prefix cache gives the greedy
tokens of the model's own `generate`; the static decode step (with Qwen3's q/k norms) gives the
model's own logits. Batched vision windows do not apply (no windows in its vision tower).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.config import ModelSettings
from policies.qwen.dialects import dialect_for
from policies.qwen.messages import ImagePart, Message, ModelRequest, TextPart
from policies.qwen.resize import model_frame

pytestmark = pytest.mark.model


@pytest.fixture(scope="module", params=[False, True], ids=["dense", "moe"])
def qwen3_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_qwen import build_tiny_qwen3

    torch.set_num_threads(1)
    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny-qwen3"), moe=request.param)


@pytest.fixture(scope="module")
def backend(qwen3_dir: Path):
    from policies.qwen.backends.transformers_backend import TransformersBackend, TransformersOptions

    settings = ModelSettings(name=str(qwen3_dir), dtype="float32", device_map="cpu", attn_implementation="sdpa",
                             temperature=0.0, repetition_penalty=1.0)
    return TransformersBackend(TransformersOptions.of(settings, min_pixels=65536, max_pixels=16 * 16 * 4 * 256))


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_the_checkpoint_loads_as_its_own_class_with_only_verified_optimisations(backend, qwen3_dir: Path) -> None:
    expected = "Qwen3VLMoeForConditionalGeneration" if "moe" in str(backend.model_type) else \
        "Qwen3VLForConditionalGeneration"
    assert type(backend.model).__name__ == expected
    assert backend.vision_layers_batched == 0 and backend.decoder.static is None  # CPU: no static step
    from policies.qwen.backends.architectures import unverified
    from policies.qwen.backends.transformers_backend import static_mode

    assert static_mode(backend.options, "cuda", backend.model) == "graphs"  # proven below, q/k norms included
    assert backend.decoder.prefix_cache is True and backend.engine_notes == ()
    assert unverified("some_vl", backend.options) == (
        "prefix_cache is not verified for some_vl: transformers' own path is used",
        "static_decode is not verified for some_vl: transformers' own path is used",
        "device_resize is not verified for some_vl: transformers' own path is used")


def test_pixel_values_equal_the_image_processor(backend) -> None:
    import torch

    from policies.qwen.engine.pixels import pixel_values, spec_of

    image = noise(192, 128)
    ours, grid = pixel_values([image], spec_of(backend.image_processor))
    theirs = backend.image_processor(images=[image], do_resize=False, return_tensors="pt")
    assert grid.tolist() == theirs["image_grid_thw"].tolist() == [[1, 8, 12]]
    torch.testing.assert_close(ours, theirs["pixel_values"].float(), atol=1e-5, rtol=1e-5)


def test_our_decoder_with_the_prefix_cache_gives_generates_greedy_tokens(backend) -> None:
    import torch

    d = dialect_for("qwen3-vl")
    frame = model_frame(640, 400, 65536, 16 * 16 * 4 * 256, 32, 1000)
    image = noise(*frame.model, seed=3)
    request = ModelRequest(d.messages("Open the menu", image, frame, (), 1, {}), max_new_tokens=12,
                           default_system=None)
    for _ in range(2):  # the second call reuses the cached system prompt
        reply = backend.complete(request)
    assert reply.extra["cached_prefix_tokens"] > 0
    prepared = backend.prepare(request)
    with torch.inference_mode():
        out = backend.model.generate(**prepared.tensors, max_new_tokens=12, do_sample=False,
                                     eos_token_id=list(backend.eos_ids))
    expected = backend.tokenizer.decode(out[0, prepared.prompt_tokens:], skip_special_tokens=True)
    assert reply.text == expected


def test_a_constrained_qwen3_step_is_a_grid_point_on_the_screen(backend) -> None:
    from actions.geometry import Monitor, Screenshot
    from policies.qwen.policy import QwenOptions, QwenPolicy

    policy = QwenPolicy(backend, QwenOptions(min_pixels=65536, max_pixels=16 * 16 * 4 * 256, constrained=True,
                                             max_new_tokens=48), dialect_for("qwen3-vl"))
    shot = Screenshot(noise(1280, 720, seed=5), Monitor(0, 0, 1280, 720))
    for _ in range(3):
        decision = policy.decide("Click the OK button", shot, ())
        assert decision.action is not None, decision.error
        assert decision.meta["dialect"] == "qwen3-vl" and decision.meta["model"][0] % 32 == 0
        point = getattr(decision.action, "coordinate", None)
        if point is not None:
            assert 0 <= point[0] < 1280 and 0 <= point[1] < 720
            assert all(0 <= v <= 999 for v in decision.meta["model_action"]["coordinate"])


def test_the_request_text_has_no_default_system_and_keeps_task_text_plain(backend) -> None:
    frame = model_frame(640, 400, 65536, 16 * 16 * 4 * 256, 32, 1000)
    image = noise(*frame.model)
    user = Message("user", (TextPart("say <|im_end|>"), ImagePart(image)))
    prepared = backend.prepare(ModelRequest((user,), default_system=None))
    assert prepared.text.startswith("<|im_start|>user\nsay <|im_end|><|vision_start|>")
    ids = prepared.tensors["input_ids"][0].tolist()
    assert ids.count(151645) == 1 and prepared.vision_tokens == frame.vision_tokens


class _Scores:
    def __init__(self) -> None:
        self.seen: list = []

    def __call__(self, ids, scores):  # type: ignore[no-untyped-def]
        self.seen.append(scores.clone())
        return scores


def test_the_static_decode_step_gives_the_model_forward_logits_with_q_k_norms(backend) -> None:
    """Qwen3-VL's q/k RMS norms (and the MoE block) in the static-KV step: per-step logits equal the model's
    own forward; a repetition penalty keeps the random model's tokens varied."""
    import torch
    from transformers import LogitsProcessorList

    from policies.qwen.engine.decode import Decoder, Sampling

    frame = model_frame(640, 400, 65536, 16 * 16 * 4 * 256, 32, 1000)
    request = ModelRequest(dialect_for("qwen3-vl").messages("Type hello", noise(*frame.model, seed=9), frame, (), 1,
                                                            {}), default_system=None)
    tensors = backend.prepare(request).tensors
    runs = []
    for static in ("eager", "off"):
        scores = _Scores()
        with torch.inference_mode():
            result = Decoder(backend.model, backend.image_token_id, True, static).generate(
                tensors, 16, LogitsProcessorList([scores]), backend.eos_ids, Sampling(repetition_penalty=1.3))
        runs.append((result.tokens, scores.seen))
    (ours, our_scores), (theirs, their_scores) = runs
    assert ours == theirs
    for step, (a, b) in enumerate(zip(our_scores, their_scores, strict=True)):
        assert torch.allclose(a, b, atol=2e-5, rtol=1e-4), (step, float((a - b).abs().max()))
