"""Live safety around a run: the gate's configured rules, confirmations, the kill switch and hotkeys,
human takeover, and the guard every input call passes through."""
