"""The local web console: watch a run, answer its confirmations, pause, resume or stop it (agent.console.server)."""
