"""Torch pixel values equal transformers' Qwen2-VL image processor output (speed: `bench model`)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from policies.qwen.engine.inputs import load_image_processor  # noqa: E402
from policies.qwen.engine.pixels import PixelSpec, pixel_values, spec_of  # noqa: E402

pytestmark = pytest.mark.model


def random_image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def processor():
    return load_image_processor(None, 3136, 12845056)


@pytest.mark.parametrize(("width", "height"), [(56, 28), (308, 196), (1316, 728)])
def test_equals_the_image_processor(processor, width: int, height: int) -> None:
    images = [random_image(width, height, 1), random_image(width, height, 2).convert("L").convert("RGB")]
    expected = processor(images=images, do_resize=False, return_tensors="pt")
    values, grid = pixel_values(images, spec_of(processor))
    assert torch.equal(grid, expected["image_grid_thw"])
    assert values.shape == expected["pixel_values"].shape
    assert torch.allclose(values, expected["pixel_values"].float(), atol=1e-5)


def test_spec_is_read_from_the_processor(processor) -> None:
    assert spec_of(processor) == PixelSpec()


def test_rejects_an_image_that_was_not_resized() -> None:
    with pytest.raises(ValueError, match="multiple of 28"):
        pixel_values([random_image(100, 56, 0)])
