"""The transformers backend on a tiny random Qwen2.5-VL, loaded through the real from_pretrained path on CPU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.config import ModelSettings
from policies.qwen.engine.inputs import chat_text, expand_image_pads
from policies.qwen.errors import BackendError
from policies.qwen.messages import ImagePart, Message, ModelRequest, TextPart
from policies.qwen.prompt import build_messages, system_prompt
from policies.qwen.resize import resize_for_model

pytestmark = pytest.mark.model


def tiny_settings(path: Path, **changes: object) -> ModelSettings:
    base = {"name": str(path), "dtype": "float32", "device_map": "cpu", "attn_implementation": "sdpa",
            "temperature": 0.0, "min_pixels": 3136, "max_pixels": 200_704}
    return ModelSettings(**{**base, **changes})


@pytest.fixture(scope="module")
def backend(tiny_qwen_dir: Path):
    from policies.qwen.backends.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_settings(tiny_qwen_dir))


def screenshot(width: int, height: int, seed: int = 0):
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def step_request(task: str, size: tuple[int, int] = (640, 360), max_pixels: int = 200_704, **kw: object):
    image, frame = resize_for_model(screenshot(*size), 3136, max_pixels)
    return ModelRequest(build_messages(task, image, frame), **kw), frame


def test_prompt_text_has_the_system_prompt_and_one_pad_per_784_pixels(backend) -> None:
    request, frame = step_request("Open the File menu")
    prepared = backend.prepare(request)
    assert system_prompt(frame.model_width, frame.model_height) in prepared.text
    expected = frame.model_width * frame.model_height // 784
    assert prepared.text.count("<|image_pad|>") == expected == prepared.vision_tokens
    assert int((prepared.tensors["input_ids"] == 151655).sum()) == expected
    assert prepared.tensors["image_grid_thw"].tolist() == [[1, frame.model_height // 14, frame.model_width // 14]]
    assert prepared.prompt_tokens == prepared.tensors["input_ids"].shape[1]
    assert prepared.image_sizes == (frame.model,)


def test_mm_token_type_ids_mark_exactly_the_image_tokens(backend) -> None:
    import transformers

    prepared = backend.prepare(step_request("x")[0])
    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip("transformers 4.x computes 3-D positions without mm_token_type_ids")
    types, ids = prepared.tensors["mm_token_type_ids"], prepared.tensors["input_ids"]
    assert types.tolist() == (ids == 151655).long().tolist()


def test_chat_text_is_what_the_qwen_chat_template_renders(backend) -> None:
    image = screenshot(56, 56)
    messages = (Message("system", (TextPart("SYS"),)), Message("user", (ImagePart(image), TextPart("hi"))),
                Message("assistant", (TextPart("ok"),)), Message("user", (TextPart("more"),)))
    as_dicts = [{"role": m.role, "content": [{"type": "image"} if isinstance(p, ImagePart) else
                                             {"type": "text", "text": p.text} for p in m.parts]} for m in messages]
    rendered = backend.tokenizer.apply_chat_template(as_dicts, tokenize=False, add_generation_prompt=True)
    assert chat_text(messages) == rendered
    assert chat_text(messages[1:2]).startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")


def test_generation_returns_text_token_counts_and_timings(backend) -> None:
    request, frame = step_request("Click Save", max_new_tokens=12)
    reply = backend.complete(request)
    assert isinstance(reply.text, str)
    assert 1 <= reply.completion_tokens <= 12 and reply.vision_tokens == frame.vision_tokens
    assert reply.prompt_tokens > reply.vision_tokens
    assert {"preprocess", "prefill", "decode", "total"} <= set(reply.timings_ms)
    assert all(v >= 0 for v in reply.timings_ms.values())
    assert reply.timings_ms["total"] >= reply.timings_ms["prefill"] + reply.timings_ms["preprocess"]
    assert reply.extra["finish_reason"] in ("stop", "length") and reply.extra["constrained"] is False


def test_image_positions_are_3d(backend) -> None:
    """With an image, mrope positions compress the image: the first answer token's position is below the length."""
    from policies.qwen.engine.mrope import position_tensor

    t = backend.prepare(step_request("Click", max_new_tokens=2)[0]).tensors
    _, following = position_tensor(t["input_ids"], t["image_grid_thw"], 151655)
    assert following < t["input_ids"].shape[1]


def test_an_image_not_resized_to_multiples_of_28_is_refused(backend) -> None:
    request = ModelRequest((Message("user", (ImagePart(screenshot(100, 60)), TextPart("x"))),))
    with pytest.raises(ValueError, match="100x60 is not W′×H′"):
        backend.prepare(request)


def test_expand_image_pads_checks_the_count() -> None:
    assert expand_image_pads("a<|image_pad|>b", [3]) == "a" + "<|image_pad|>" * 3 + "b"
    with pytest.raises(ValueError, match="2 image placeholders"):
        expand_image_pads("<|image_pad|><|image_pad|>", [1])


def test_sampling_is_greedy_at_temperature_zero_else_the_configured_values(tiny_qwen_dir: Path, backend) -> None:
    from policies.qwen.engine.decode import Sampling

    assert backend.sampling() == Sampling(repetition_penalty=1.05)  # greedy; the penalty still applies
    backend.settings, saved = tiny_settings(tiny_qwen_dir, temperature=0.7, top_p=0.9, top_k=5), backend.settings
    try:
        sampled = backend.sampling()
    finally:
        backend.settings = saved
    assert (sampled.temperature, sampled.top_p, sampled.top_k, sampled.repetition_penalty) == (0.7, 0.9, 5, 1.05)


def test_sampled_generation_draws_from_the_filtered_distribution(tiny_qwen_dir: Path, backend) -> None:
    """top_k 1 while sampling at any temperature must equal greedy decoding."""
    saved = backend.settings
    request = step_request("Click Save", max_new_tokens=8)[0]
    greedy = backend.complete(request).text
    backend.settings = tiny_settings(tiny_qwen_dir, temperature=1.5, top_k=1, top_p=1.0)
    try:
        assert backend.complete(request).text == greedy
    finally:
        backend.settings = saved


def test_a_missing_model_is_one_line_naming_what_was_tried(tmp_path: Path) -> None:
    from policies.qwen.backends.transformers_backend import TransformersBackend

    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendError) as err:
        TransformersBackend(tiny_settings(missing))
    message = str(err.value)
    assert "\n" not in message and str(missing) in message and "tried" in message


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from policies.qwen.backends.transformers_backend import MissingModelExtra, require_model_extra

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError) as err:
        require_model_extra()
    assert isinstance(err.value, MissingModelExtra) and "pip install 'deskpilot[model]'" in str(err.value)


def test_transformers_versions_with_the_position_bugs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from policies.qwen.backends.transformers_backend import MissingModelExtra, require_model_extra

    for bad in ("5.4.0", "5.5.3", "4.56.1"):
        monkeypatch.setattr(transformers, "__version__", bad)
        with pytest.raises(MissingModelExtra, match=bad.replace(".", r"\.")):
            require_model_extra()


def test_auto_attention_is_sdpa_without_flash_attn_or_gpu() -> None:
    from policies.qwen.backends.transformers_backend import resolve_attention

    assert resolve_attention("auto", "float32") == "sdpa"
    assert resolve_attention("eager", "bfloat16") == "eager"
