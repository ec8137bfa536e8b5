"""Resizing on the model's device (device_image.py) against Pillow's BICUBIC, and its use by the backend."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def _noise(width: int, height: int, seed: int = 0):
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def _screen_like(width: int, height: int):
    """Flat panels, text-like strokes and gradients: what a desktop looks like, at full resolution."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (236, 236, 236))
    draw = ImageDraw.Draw(image)
    for i in range(0, height, 37):
        draw.rectangle((20, i, width // 3, i + 20), fill=(30 + i % 200, 90, 160))
        draw.text((width // 3 + 10, i), "File  Edit  View  Help  0123456789" * 3, fill=(0, 0, 0))
    draw.line((0, 0, width, height), fill=(255, 0, 0), width=3)
    return image


NO_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)")
DEVICES = ["cpu", pytest.param("cuda", marks=NO_GPU)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("source", "size"), [
    ((1920, 1080), (1316, 728)),  # 1080p under the default budget
    ((3840, 2160), (1316, 728)),  # 4K
    ((1920, 1080), (1920, 728)),  # one axis only
    ((800, 600), (840, 616)),  # up
])
def test_the_device_resize_is_pillow_bicubic_within_two_levels(device: str, source, size) -> None:
    import numpy as np
    from PIL import Image

    from policies.qwen.engine.device_image import resize_on_device

    for image in (_noise(*source), _screen_like(*source)):
        expected = np.asarray(image.resize(size, Image.Resampling.BICUBIC)).astype(int)
        got = resize_on_device(image, size, device)
        assert got.size == size and got.tensor.device.type == device and got.tensor.dtype == torch.uint8
        diff = np.abs(got.tensor.permute(1, 2, 0).cpu().numpy().astype(int) - expected)
        assert diff.max() <= 2 and (diff > 0).mean() < 0.005, (diff.max(), (diff > 0).mean())


def test_pixel_values_of_a_device_image_equal_those_of_the_same_pil_image() -> None:
    import numpy as np
    from PIL import Image

    from policies.qwen.engine.device_image import DeviceImage
    from policies.qwen.engine.pixels import pixel_values

    image = _noise(280, 196).resize((280, 196), Image.Resampling.BICUBIC)
    tensor = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    ours, grid = pixel_values([DeviceImage(tensor)])
    theirs, their_grid = pixel_values([image])
    assert torch.equal(ours, theirs) and torch.equal(grid, their_grid)
    assert DeviceImage(tensor).convert("RGB").mode == "RGB"
    with pytest.raises(ValueError, match="RGB"):
        DeviceImage(tensor).convert("L")


@pytest.mark.model
def test_the_backend_resizes_with_pillow_on_the_cpu_and_on_its_gpu_otherwise(tiny_qwen_dir: Path) -> None:
    import numpy as np
    from test_transformers_backend import tiny_settings

    from policies.qwen.backends.transformers_backend import TransformersBackend
    from policies.qwen.engine.device_image import DeviceImage
    from policies.qwen.messages import ModelRequest
    from policies.qwen.prompt import build_messages
    from policies.qwen.resize import resize_for_model

    backend = TransformersBackend(tiny_settings(tiny_qwen_dir))
    screen = _screen_like(640, 400)
    image, frame = backend.resize_for_model(screen, 3136, 100_352)
    pil_image, pil_frame = resize_for_model(screen, 3136, 100_352)
    assert not isinstance(image, DeviceImage)  # the CPU: Pillow, as before
    assert frame == pil_frame and image.tobytes() == pil_image.tobytes()
    # the same pixels as a device image (here on the CPU) give the same answer through the backend
    tensor = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    replies = [backend.complete(ModelRequest(build_messages("Open the menu", shown, frame), max_new_tokens=6)).text
               for shown in (image, DeviceImage(tensor))]
    assert replies[0] == replies[1]
    if torch.cuda.is_available():
        gpu = TransformersBackend(tiny_settings(tiny_qwen_dir, device_map="cuda"))
        shown, same_frame = gpu.resize_for_model(screen, 3136, 100_352)
        assert isinstance(shown, DeviceImage) and shown.tensor.is_cuda and same_frame == frame
        assert gpu.complete(ModelRequest(build_messages("Open the menu", shown, frame), max_new_tokens=6)).text
