"""Watching a run as it happens: the live step view on the terminal (agent.watch.view, agent.watch.text)."""
