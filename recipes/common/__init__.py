"""What every recipe shares, a file per job: start.py (process start-up, the engine), args.py (flags and `run`),
model.py, training.py, checkpoints.py, samples.py (training completions kept for the report), generation.py,
processes.py (several processes), evaluation.py, stages.py (a recipe trained in stages) and temperature.py (a
temperature anneal)."""

from recipes.common import start  # noqa: F401  (first: Unsloth loads before trl and transformers)
