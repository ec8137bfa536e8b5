"""What to do next: policies that turn (task, screenshot, history) into one action.

Imports `actions` and nothing of `agent`. Holds the `Policy` protocol and its values, the
scripted policy (task scripts and recorded traces) and, in its own modules, the model policies.
"""
