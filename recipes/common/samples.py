"""Training completions kept in the run's folder: a few prompts, completions and their rewards every few steps, in
`<output_dir>/completions.jsonl`, for the run's report (recipes/tools/report.py).

    trainer.add_callback(KeepCompletions(trainer))

One JSON object per kept completion: {"step", "prompt", "completion", "rewards": {reward function: value},
"reward": the weighted total the trainer uses, "advantage"}. A reward function that returned None for a completion
has null. Kept: the first step, every `every` steps and the last one, `per_step` completions each (the first of the
step's batch: usually answers to one prompt, compared as GRPO compares them), each text cut to `max_chars`; once the
file nears `max_bytes` only the last step is still added.

The texts are the ones GRPOTrainer itself keeps for `log_completions` (its `_logs`), not computed again. TRL's own
`log_completions` writes a parquet file a step with every completion and prints tables: too much to keep for a whole
run. Unsloth builds its GRPOTrainer by editing TRL's source, which leaves `_logs` as it is (read in unsloth
2026.10.7's rl_replacements.py; not run on a GPU yet), its prompts with their special tokens; a trainer without
`_logs` keeps nothing here and trains as usual.
"""

import json
import math
import os

from transformers import TrainerCallback

FILENAME = "completions.jsonl"
IS_MAIN_PROCESS = os.environ.get("RANK", "0") == "0"  # the other processes' completions are gathered into its _logs


class KeepCompletions(TrainerCallback):
    def __init__(self, trainer, every: int = 10, per_step: int = 4, max_chars: int = 2000,
                 max_bytes: int = 2_000_000):
        self.trainer, self.every, self.per_step, self.max_chars, self.max_bytes = (
            trainer, every, per_step, max_chars, max_bytes)
        # one step's records at most (4 bytes a character in UTF-8, plus the numbers): room kept for the last step
        self.last_step_room = per_step * (8 * max_chars + 1000)
        self.path, self.size, self.kept = None, 0, set()

    def on_train_begin(self, args, state, control, **kwargs):
        """A resumed run keeps the records up to its checkpoint's step and drops later ones (written by the run that
        was stopped, on steps trained again now) and a last line cut short by a kill, so each step is kept once, from
        the run that made the model."""
        self.path = os.path.join(args.output_dir, FILENAME)
        if not IS_MAIN_PROCESS or not os.path.isfile(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            lines = f.readlines()
        kept = [(line, step) for line in lines if (step := step_of(line)) is not None and step <= state.global_step]
        if len(kept) < len(lines):
            with open(self.path + ".partial", "w", encoding="utf-8") as f:
                f.writelines(line for line, _ in kept)
            os.replace(self.path + ".partial", self.path)
        self.kept = {step for _, step in kept}
        self.size = sum(len(line.encode()) for line, _ in kept)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1 or state.global_step % self.every == 0:
            self.keep(state.global_step, last=False)

    def on_train_end(self, args, state, control, **kwargs):
        self.keep(state.global_step, last=True)  # also a run stopped early (Ctrl-C, SIGTERM) keeps its last step

    def keep(self, step: int, last: bool) -> None:
        if not IS_MAIN_PROCESS or step in self.kept or self.path is None:
            return
        lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in self.records(step)]
        size = sum(len(line.encode()) for line in lines)
        if not lines or self.size + size > self.max_bytes - (0 if last else self.last_step_room):
            return
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(lines)
        self.size += size
        self.kept.add(step)

    def records(self, step: int) -> list[dict]:
        logs = getattr(self.trainer, "_logs", None)
        if not logs or not logs.get("prompt"):
            return []
        names = list(logs.get("rewards", {}))
        weights = getattr(self.trainer, "reward_weights", None)
        weights = weights.tolist() if weights is not None and len(weights) == len(names) else [1.0] * len(names)
        columns = {name: list(logs["rewards"][name]) for name in names}
        advantages = list(logs.get("advantages", []))
        records = []
        for i, (prompt, completion) in enumerate(zip(list(logs["prompt"])[:self.per_step], logs["completion"])):
            rewards = {name: number(column[i]) if i < len(column) else None for name, column in columns.items()}
            scored = [w * v for w, v in zip(weights, rewards.values()) if v is not None]
            records.append({"step": step, "prompt": self.cut(prompt), "completion": self.cut(completion),
                            "rewards": rewards, "reward": sum(scored) if scored else None,
                            "advantage": number(advantages[i]) if i < len(advantages) else None})
        return records

    def cut(self, text) -> str:
        text = text if isinstance(text, str) else str(text)
        if len(text) <= self.max_chars:
            return text
        return text[:self.max_chars] + f" [... {len(text) - self.max_chars} more characters]"


def step_of(line: str) -> int | None:
    """The step of a line of completions.jsonl; None for a line cut short."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return None


def number(value) -> float | None:
    """A reward as JSON can hold it: TRL's NaN (the function returned None) becomes null."""
    value = float(value)
    return None if math.isnan(value) else value
