"""One run: the loop (observe → decide → gate → act → settle → record), its assembly from settings,
settling, stuck detection and the hooks another caller (the daemon) takes part through."""
