"""Native Wayland desktops: the wlroots backend (screencopy capture, virtual pointer and keyboard input).

Needs the optional extra `pip install 'deskpilot[wayland]'` (pywayland). Bindings for the protocols
pywayland does not ship live in `generated/` (see `generate`). Not for: choosing a backend
(`actions.backends`) or anything X11.
"""
