"""Reward functions with TRL's signature, grouped by task; shared text parsing lives in `rewards.text`."""
