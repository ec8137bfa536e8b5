"""Scripted policies: task script files, the policy that plays a fixed list of actions, and the replay
that verifies the screen before each recorded step."""
