"""Benchmarks: what a step costs beside the model (`bench loop|settle`) and the model's share (`bench model`)."""
