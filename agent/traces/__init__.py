"""Traces on disk: writing and reading them, their checked shape, and what is made from them
(the HTML report, fine-tuning exports, task scripts)."""
