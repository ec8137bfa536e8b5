"""PyGObject and GStreamer, found lazily: this Python's own `gi`, else Debian's python3-gi when it fits.

PyGObject has no wheels on PyPI, so a virtual environment usually lacks it. When `import gi` fails and
the system's dist-packages holds a PyGObject built for this very Python version (Debian's python3-gi
for python3.11, say), only the `gi` package is loaded from there — nothing else of dist-packages goes
on sys.path. Otherwise `GnomeUnavailable` says what to install. Not for: building pipelines (capture).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from typing import Any

from actions.gnome.bus import GnomeUnavailable

SYSTEM_SITES = ("/usr/lib/python3/dist-packages", "/usr/lib64/python3/site-packages")
NEEDS = ("the gnome backend's capture needs PyGObject with GStreamer and its PipeWire plugin: apt-get install "
         "python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gstreamer1.0-pipewire")


def import_gi() -> Any:
    try:
        import gi
    except ImportError:
        gi = _system_gi()
    return gi


def _system_gi() -> Any:
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    for site in SYSTEM_SITES:
        if not any(Path(site, "gi").glob(f"_gi.{tag}*.so")):
            continue
        spec = importlib.machinery.PathFinder.find_spec("gi", [site])
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules["gi"] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules["gi"]
            raise GnomeUnavailable(f"{NEEDS} (loading {site}/gi failed: {exc})") from None
        return module
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    raise GnomeUnavailable(f"{NEEDS}; this Python ({version}, {sys.executable}) cannot import gi: use the system "
                           "python3 or a venv made with --system-site-packages")


def import_gst() -> tuple[Any, Any]:
    """Gst (initialised) and GstApp."""
    gi = import_gi()
    try:
        gi.require_version("Gst", "1.0")
        gi.require_version("GstApp", "1.0")
        from gi.repository import Gst, GstApp
    except (ValueError, ImportError) as exc:
        raise GnomeUnavailable(f"{NEEDS} ({exc})") from None
    Gst.init(None)
    if Gst.ElementFactory.find("pipewiresrc") is None:
        raise GnomeUnavailable(f"{NEEDS} (GStreamer has no pipewiresrc)")
    return Gst, GstApp
