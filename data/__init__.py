"""Dataset builders: each turns a task's raw rows into chat prompts plus the columns its rewards read."""
