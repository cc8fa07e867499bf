"""Recipes: one script per published GRPO run, each `python -m recipes.<name> --help`."""
