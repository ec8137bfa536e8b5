"""Model space → screen → input device: ≤ 1 px after rounding, over many screens, budgets, scales, offsets."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actions.geometry import Monitor, to_desktop
from policies.qwen.coords import to_model, to_screen
from policies.qwen.resize import ModelFrame, model_frame

SCREENS = [
    (1280, 720), (1366, 768), (1280, 800), (1440, 900), (1920, 1080), (1920, 1200), (2560, 1440),
    (2560, 1600), (3840, 2160), (5120, 2880),  # 720p .. 5K
    (1080, 1920), (768, 1366), (1440, 2560),  # portrait
    (2560, 1080), (3440, 1440), (5120, 1440), (3840, 1080),  # ultrawide
]
BUDGETS = [200_704, 1_003_520, 2_007_040, 4_014_080, 12_845_056]
SCALES = [1.0, 1.25, 1.5, 2.0, 3.0]
EPS = 1e-9


def test_per_axis_mapping_of_a_known_point() -> None:
    frame = model_frame(1920, 1080, 3136, 1_003_520)
    assert frame.model == (1316, 728)
    assert to_screen((658, 364), frame) == (960, 540)
    assert to_screen((0, 0), frame) == (0, 0)
    assert to_model((960, 540), frame) == (658, 364)


def test_answers_past_the_image_are_clamped_into_the_screen() -> None:
    frame = ModelFrame(1920, 1080, 1316, 728)
    assert to_screen((1316, 728), frame) == (1919, 1079)
    assert to_screen((1400.7, 800), frame) == (1919, 1079)
    assert to_screen((-3, -0.4), frame) == (0, 0)
    assert to_screen((1e308, -1e308), frame) == (1919, 0)  # no overflow on absurd but finite input


@pytest.mark.parametrize("bad", [(math.nan, 1.0), (1.0, math.inf), (-math.inf, 0.0)])
def test_non_finite_points_are_refused(bad: tuple[float, float]) -> None:
    frame = ModelFrame(1920, 1080, 1316, 728)
    with pytest.raises(ValueError, match="finite"):
        to_screen(bad, frame)
    with pytest.raises(ValueError, match="finite"):
        to_model(bad, frame)


@st.composite
def setups(draw: st.DrawFn) -> tuple[ModelFrame, Monitor, float]:
    width, height = draw(st.sampled_from(SCREENS) | st.tuples(st.integers(640, 6000), st.integers(480, 4000)))
    frame = model_frame(width, height, 3136, draw(st.sampled_from(BUDGETS)))
    left = draw(st.integers(-6000, 8000))
    top = draw(st.integers(-3000, 3000))
    return frame, Monitor(left, top, width, height), draw(st.sampled_from(SCALES))


@settings(max_examples=1000, deadline=None)
@given(setup=setups(), fx=st.floats(0, 1, exclude_max=True), fy=st.floats(0, 1, exclude_max=True),
       integral=st.booleans())
def test_model_point_lands_within_one_pixel_on_screen_and_desktop(
    setup: tuple[ModelFrame, Monitor, float], fx: float, fy: float, integral: bool
) -> None:
    frame, monitor, scale = setup
    qx, qy = fx * frame.model_width, fy * frame.model_height
    if integral:  # what the model usually writes
        qx, qy = float(math.floor(qx)), float(math.floor(qy))
    sx, sy = to_screen((qx, qy), frame)
    assert 0 <= sx < frame.screen_width and 0 <= sy < frame.screen_height
    exact_x = min(qx * frame.screen_width / frame.model_width, frame.screen_width - 1)
    exact_y = min(qy * frame.screen_height / frame.model_height, frame.screen_height - 1)
    assert abs(sx - exact_x) <= 0.5 + EPS and abs(sy - exact_y) <= 0.5 + EPS
    dx, dy = to_desktop((sx, sy), monitor, scale)
    assert abs(dx - (monitor.left + exact_x) / scale) <= 1 + EPS
    assert abs(dy - (monitor.top + exact_y) / scale) <= 1 + EPS


@settings(max_examples=500, deadline=None)
@given(setup=setups(), fx=st.floats(0, 1, exclude_max=True), fy=st.floats(0, 1, exclude_max=True))
def test_export_round_trip_error_is_bounded_by_the_model_grid(
    setup: tuple[ModelFrame, Monitor, float], fx: float, fy: float
) -> None:
    frame = setup[0]
    px, py = int(fx * frame.screen_width), int(fy * frame.screen_height)
    mx, my = to_model((px, py), frame)
    assert 0 <= mx < frame.model_width and 0 <= my < frame.model_height
    back_x, back_y = to_screen((mx, my), frame)
    assert abs(back_x - px) <= _grid_error(px, frame.screen_width, frame.model_width)
    assert abs(back_y - py) <= _grid_error(py, frame.screen_height, frame.model_height)
    if frame.model_width >= frame.screen_width:
        assert abs(back_x - px) <= 1
    if frame.model_height >= frame.screen_height:
        assert abs(back_y - py) <= 1


def _grid_error(p: int, size: int, model_size: int) -> float:
    """How far screen → model → screen may move a point: one model pixel covers size/model_size
    screen pixels, so half of that plus the final rounding — a whole one where the model point was
    clamped back into the image at the far edge."""
    cell = size / model_size
    clamped = p * model_size / size > model_size - 1 + 0.5 - EPS
    return (cell if clamped else 0.5 * cell) + 0.5 + EPS


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("max_pixels", BUDGETS)
def test_every_screen_corner_and_centre_round_trips(screen: tuple[int, int], max_pixels: int) -> None:
    frame = model_frame(*screen, 3136, max_pixels)
    w, h = screen
    for point in [(0, 0), (w - 1, h - 1), (w // 2, h // 2), (w - 1, 0), (0, h - 1)]:
        back = to_screen(to_model(point, frame), frame)
        assert abs(back[0] - point[0]) <= _grid_error(point[0], w, frame.model_width)
        assert abs(back[1] - point[1]) <= _grid_error(point[1], h, frame.model_height)


def test_a_widget_centre_on_a_second_hidpi_monitor() -> None:
    """1366x768 at offset (1920, 0), scale 2: the model's centre of a widget reaches the input API."""
    frame = model_frame(1366, 768, 3136, 1_003_520)
    assert frame.model == (1316, 728)
    widget_centre = (683, 384)
    model_point = (683 * 1316 / 1366, 384 * 728 / 768)
    screen = to_screen(model_point, frame)
    assert screen == widget_centre
    # the logical point holding the pixel's centre: physical pixels 2602 and 2603 are logical 1301
    assert to_desktop(screen, Monitor(1920, 0, 1366, 768), 2.0) == ((1920 + 683) // 2, 192)
