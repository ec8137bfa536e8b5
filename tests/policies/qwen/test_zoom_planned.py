"""Zoom-in re-grounding maps exactly through the crop; planner + grounder replace the planner's point.

The fake backends look at the pixels they are sent: a red marker's centre in the last image, written
in the answering dialect's own form and coordinate space. So a point is only right if the resize, the
crop, the upscale and every mapping back are right.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from actions.geometry import Monitor, Screenshot
from policies.qwen.dialects import dialect_for
from policies.qwen.messages import ImagePart, ModelReply, ModelRequest
from policies.qwen.planned import PlannedPolicy
from policies.qwen.policy import QwenOptions, QwenPolicy
from policies.qwen.zoom import ZoomOptions, crop_around

SCREENS = [(1280, 720), (1366, 768), (1920, 1080), (2560, 1440), (3840, 2160), (5120, 2880)]


class MarkerBackend:
    """Answers where the red marker is in the last image, in `dialect`'s words."""

    name = "marker"

    def __init__(self, dialect: str, planner_text: str | None = None) -> None:
        self.dialect, self.planner_text, self.requests = dialect, planner_text, []

    def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        image = [p.image for m in request.messages for p in m.parts if isinstance(p, ImagePart)][-1]
        pixels = np.asarray(image.convert("RGB")).astype(int)
        ys, xs = np.nonzero((pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80))
        x, y = (xs.mean(), ys.mean()) if len(xs) else (0.0, 0.0)
        if self.dialect == "qwen3-vl":
            x, y = x * 1000 / image.width, y * 1000 / image.height
        x, y = round(x), round(y)
        if self.planner_text is not None:
            return ModelReply(self.planner_text)
        if self.dialect == "gta1":
            return ModelReply(f"({x},{y})")
        if self.dialect == "ui-tars-1.5":
            return ModelReply(f"Action: click(start_box='({x},{y})')")
        return ModelReply('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", '
                          f'"coordinate": [{x}, {y}]}}}}\n</tool_call>')

    def close(self) -> None:
        pass


def screen_with_marker(width: int, height: int, centre: tuple[int, int], side: int = 6) -> Screenshot:
    image = Image.new("RGB", (width, height), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 97):  # some structure around it
        draw.line([(i, 0), (i, height)], fill=(90, 90, 200))
    x, y = centre
    draw.rectangle([x - side // 2, y - side // 2, x + side // 2, y + side // 2], fill=(230, 20, 20))
    return Screenshot(image, Monitor(0, 0, width, height))


@pytest.mark.parametrize(("width", "height"), SCREENS)
def test_every_scaled_crop_pixel_maps_back_to_the_crop_pixel_it_was_made_from(width: int, height: int) -> None:
    rng = random.Random(width)
    for _ in range(20):
        point = (rng.randrange(width), rng.randrange(height))
        box = crop_around(point, (width, height), rng.choice((0.25, 0.5)), rng.choice((1_003_520, 1_310_720)))
        assert box.x0 >= 0 and box.x0 + box.width <= width and box.y0 >= 0 and box.y0 + box.height <= height
        for cx in (0, box.width // 2, box.width - 1):
            for cy in (0, box.height - 1):
                scaled = (int((cx + 0.5) * box.scaled_width / box.width),
                          int((cy + 0.5) * box.scaled_height / box.height))
                assert box.to_screen(scaled) == (box.x0 + cx, box.y0 + cy)


@pytest.mark.parametrize("dialect", ["qwen2.5-vl", "qwen3-vl", "gta1", "ui-tars-1.5"])
@pytest.mark.parametrize(("width", "height"), SCREENS)
def test_zoomed_grounding_lands_on_the_marker_at_every_screen_size(dialect: str, width: int, height: int) -> None:
    d = dialect_for(dialect)
    target = (width * 7 // 10 + 3, height // 3 + 5)
    shot = screen_with_marker(width, height, target)
    backend = MarkerBackend(dialect)
    grounder = QwenPolicy(backend, QwenOptions(min_pixels=d.budget.min_pixels, max_pixels=1_003_520), d)
    planned = PlannedPolicy(grounder, grounder, ZoomOptions(0.25))
    point = planned.ground("the red square", shot)
    assert abs(point[0] - target[0]) <= 1 and abs(point[1] - target[1]) <= 1, (point, target)
    assert len(backend.requests) == 2  # the screen, then the crop
    plain = grounder.ground("the red square", shot)
    assert abs(plain[0] - target[0]) <= width / 1000 * 4 and abs(plain[1] - target[1]) <= height / 1000 * 4


def test_the_planner_names_the_target_and_the_grounder_points_at_it() -> None:
    shot = screen_with_marker(1920, 1080, (1500, 300))
    text = ("Thought: The OK button confirms.\nAction: Click the red OK square\n<tool_call>\n"
            '{"name": "computer_use", "arguments": {"action": "double_click", "coordinate": [10, 990]}}\n</tool_call>')
    planner = QwenPolicy(MarkerBackend("qwen3-vl", planner_text=text), QwenOptions(65536, 1_310_720),
                         dialect_for("qwen3-vl"))
    grounder_backend = MarkerBackend("gta1")
    grounder = QwenPolicy(grounder_backend, QwenOptions(3136, 4096 * 2160), dialect_for("gta1"))
    decision = PlannedPolicy(planner, grounder).decide("Confirm", shot, ())
    assert decision.action is not None and decision.action.action == "double_click"
    assert abs(decision.action.coordinate[0] - 1500) <= 2 and abs(decision.action.coordinate[1] - 300) <= 2
    g = decision.meta["grounder"]
    assert g["target"] == "Click the red OK square" and g["calls"][0]["raw_text"].startswith("(")
    assert decision.meta["planner"]["point"] == [19, 1069] and decision.meta["dialect"] == "qwen3-vl"
    (request,) = grounder_backend.requests
    assert request.messages[1].parts[1].text == "Click the red OK square"  # type: ignore[union-attr]


def test_a_planner_answer_without_words_keeps_its_point_and_says_so() -> None:
    shot = screen_with_marker(1280, 720, (100, 100))
    bare = ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 5]}}'
            "\n</tool_call>")
    planner = QwenPolicy(MarkerBackend("qwen2.5-vl", planner_text=bare), QwenOptions(), dialect_for("qwen2.5-vl"))
    grounder = QwenPolicy(MarkerBackend("gta1"), QwenOptions(), dialect_for("gta1"))
    decision = PlannedPolicy(planner, grounder).decide("x", shot, ())
    assert decision.action.coordinate == (5, 5) and "named no target" in decision.meta["grounder"]["skipped"]
