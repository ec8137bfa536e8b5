"""Replay: what `deskpilot replay PATH` plays (a script or a trace) and the verifying replay of traces."""
