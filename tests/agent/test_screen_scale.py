"""screen.scale on X11: anything but 1 would misdirect every click, so it is refused in one line."""

from __future__ import annotations

import sys

import pytest

from agent.config import ConfigError, load_settings


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 rule applies on Linux")
@pytest.mark.parametrize("scale", [2.0, 1.25, 0.5])
def test_a_scale_other_than_one_is_refused_on_x11(scale: float) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"screen.scale": scale})
    message = str(err.value)
    assert "\n" not in message and "screen.scale" in message and "must be 1 on X11" in message
    assert "wrong place" in message


def test_one_is_accepted() -> None:
    assert load_settings(None, {"screen.scale": 1}).screen.scale == 1.0
