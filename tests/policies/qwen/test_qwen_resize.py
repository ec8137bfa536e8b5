"""smart_resize and resize_for_model: the documented table, and agreement with transformers' own code."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from policies.qwen.resize import FACTOR, ModelFrame, model_frame, resize_for_model, smart_resize

HUB_MAX = 12_845_056
CLASS_MAX = 1_003_520


@pytest.mark.parametrize(
    ("screen", "max_pixels", "resized", "tokens"),
    [
        ((1920, 1080), HUB_MAX, (1932, 1092), 2691),
        ((1920, 1080), CLASS_MAX, (1316, 728), 1222),
        ((2560, 1440), HUB_MAX, (2548, 1428), 4641),
        ((3840, 2160), HUB_MAX, (3836, 2156), 10549),
        ((1366, 768), HUB_MAX, (1372, 756), 1323),
        ((1280, 720), HUB_MAX, (1288, 728), 1196),
        ((1280, 720), CLASS_MAX, (1288, 728), 1196),
    ],
)
def test_the_documented_table(screen: tuple[int, int], max_pixels: int, resized: tuple[int, int], tokens: int) -> None:
    frame = model_frame(*screen, min_pixels=3136, max_pixels=max_pixels)
    assert frame.model == resized
    assert frame.vision_tokens == tokens == resized[0] * resized[1] // 784
    assert frame.to_json() == {"screen": list(screen), "model": list(resized), "vision_tokens": tokens}


def test_height_comes_first_like_transformers() -> None:
    assert smart_resize(1080, 1920, max_pixels=CLASS_MAX) == (728, 1316)


def test_small_images_are_scaled_up_to_min_pixels() -> None:
    h, w = smart_resize(20, 30, min_pixels=3136, max_pixels=CLASS_MAX)
    assert h * w >= 3136 and h % FACTOR == 0 and w % FACTOR == 0


@pytest.mark.parametrize(("h", "w"), [(10, 2010), (2010, 10), (0, 100), (100, -1)])
def test_extreme_aspect_ratio_or_empty_image_is_an_error(h: int, w: int) -> None:
    with pytest.raises(ValueError):
        smart_resize(h, w)


def test_bad_pixel_budget_is_an_error() -> None:
    with pytest.raises(ValueError, match="min_pixels"):
        model_frame(1920, 1080, min_pixels=2_000_000, max_pixels=1_000_000)
    with pytest.raises(ValueError):
        ModelFrame(0, 10, 28, 28)


sizes = st.integers(min_value=28, max_value=8000)
budgets = st.sampled_from([3136, 200_704, 401_408, 1_003_520, 2_007_040, HUB_MAX])


def _transformers_smart_resize() -> Callable[..., tuple[int, int]]:
    """transformers' own smart_resize: the torchvision image processor's, else its PIL copy (5.x)."""
    pytest.importorskip("transformers")
    for module in ("image_processing_qwen2_vl", "image_processing_pil_qwen2_vl"):
        try:
            return importlib.import_module(f"transformers.models.qwen2_vl.{module}").smart_resize
        except ImportError:  # the torchvision one needs torchvision
            continue
    pytest.skip("no importable smart_resize in this transformers")


@pytest.fixture(scope="module")
def reference() -> Callable[..., tuple[int, int]]:
    return _transformers_smart_resize()


@pytest.mark.model  # imports transformers (and torch): slow to import, so marked
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=sizes, w=sizes, max_pixels=budgets, min_pixels=st.sampled_from([784, 3136, 50_176]))
def test_same_as_transformers_smart_resize(
    reference: Callable[..., tuple[int, int]], h: int, w: int, max_pixels: int, min_pixels: int
) -> None:
    if max(h, w) / min(h, w) > 200:
        return
    expected = reference(h, w, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)
    assert smart_resize(h, w, 28, min_pixels, max_pixels) == tuple(expected)


@pytest.mark.model
@pytest.mark.parametrize(("h", "w"), [(1080, 1920), (768, 1366), (2880, 5120), (1920, 1080), (800, 3440), (27, 5000)])
@pytest.mark.parametrize("max_pixels", [CLASS_MAX, HUB_MAX])
def test_same_as_transformers_on_real_screens(
    reference: Callable[..., tuple[int, int]], h: int, w: int, max_pixels: int
) -> None:
    assert smart_resize(h, w, 28, 3136, max_pixels) == tuple(reference(h, w, 28, 3136, max_pixels))


@given(h=sizes, w=sizes, max_pixels=st.sampled_from([200_704, 1_003_520, HUB_MAX]))
def test_result_is_within_budget_and_on_the_grid(h: int, w: int, max_pixels: int) -> None:
    if max(h, w) / min(h, w) > 200:
        return
    rh, rw = smart_resize(h, w, 28, 3136, max_pixels)
    assert rh % 28 == 0 and rw % 28 == 0 and rh >= 28 and rw >= 28
    assert rh * rw <= max_pixels or min(rh, rw) == 28  # a side is never below one 28-block


def test_resize_for_model_gives_exactly_the_model_size_in_rgb() -> None:
    image = Image.new("RGBA", (1366, 768), (10, 20, 30, 255))
    resized, frame = resize_for_model(image, 3136, CLASS_MAX)
    assert resized.size == frame.model == (1316, 728) and resized.mode == "RGB"
    assert frame.screen == (1366, 768)
    assert resized.getpixel((5, 5)) == (10, 20, 30)


def test_resize_for_model_keeps_an_image_already_on_the_grid() -> None:
    image = Image.new("RGB", (1288, 728))
    resized, frame = resize_for_model(image, 3136, HUB_MAX)
    assert resized is image and frame.model == frame.screen
