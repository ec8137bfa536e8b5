"""GNOME Wayland: the gnome backend (mutter's RemoteDesktop input and ScreenCast capture over D-Bus).

Two ways to reach mutter: directly (`mutter`: org.gnome.Mutter.RemoteDesktop + ScreenCast on the session
bus, no dialog) or through xdg-desktop-portal (`portal`: the user consents once, a restore token keeps
it). Needs `pip install 'deskpilot[gnome]'` (jeepney) and Debian's python3-gi with GStreamer's
PipeWire plugin for frames. Not for: choosing a backend (`actions.backends`), wlroots or X11.
"""
