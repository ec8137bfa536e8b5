"""The edges and the orchestration: config, the loop, traces, the CLI, the demo.

Imports `actions` and `policies`; nothing imports `agent` except its own modules and tests.
"""
