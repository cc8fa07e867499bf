"""The evaluation every recipe makes, before and after training, and `make eval` too: greedy completions of each of
the recipe's evaluation sets (`load_eval_sets`), judged by its Task, into one JSON file
({"eval_set": key, "sets": {name: result}}, every completion included); and the before/after tables."""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from trl import GRPOConfig

from recipes.common.args import RecipeArguments
from recipes.common.checkpoints import resume_checkpoint
from recipes.common.processes import generate_shared, write_json


@dataclass
class Task:
    """How a recipe's answers are judged at evaluation time (greedy decoding, the recipe's system prompt)."""
    name: str
    is_correct: Callable[[str, dict], bool]  # (completion text, its dataset row: the gold columns and the rest)
    follows_format: Callable[[str], bool]
    published: tuple[float, float] | None = None  # accuracy before -> after, in %, as the source reported it
    is_lenient_correct: Callable[[str, dict], bool] | None = None  # a looser rule, reported beside accuracy
    gold_columns: tuple[str, ...] = ("answer",)  # the row's gold answer, kept beside each completion
    extra: Callable[[dict, object], dict] | None = None  # (a set's result, its rows) -> more entries for the result
    headline: Callable[[dict], float] = lambda result: result["accuracy"]  # the percentage printed for each set


def evaluate(model, tokenizer, dataset, task: Task, max_new_tokens: int, batch_size: int = 64,
             lora_path: str | None = None, desc: str = "eval") -> dict:
    """Accuracy, format compliance and mean completion length over `dataset` (a `prompt` column and the task's gold
    columns); each completion is judged with its whole row."""
    completions, lengths = generate_shared(model, tokenizer, dataset["prompt"], max_new_tokens, batch_size,
                                           lora_path, desc)
    records = []
    for row, text, n in zip(dataset, completions, lengths):
        records.append({"question": row.get("question"), "gold": gold(row, task), "completion": text, "tokens": n,
                        "correct": task.is_correct(text, row), "format": task.follows_format(text)})
        if task.is_lenient_correct:
            records[-1]["lenient"] = task.is_lenient_correct(text, row)
    count = max(len(records), 1)
    result = {"task": task.name, "n": len(records),
              "accuracy": 100 * sum(r["correct"] for r in records) / count,
              "format_rate": 100 * sum(r["format"] for r in records) / count,
              "mean_completion_tokens": sum(r["tokens"] for r in records) / count}
    if task.is_lenient_correct:
        result["lenient_accuracy"] = 100 * sum(r["lenient"] for r in records) / count
    return {**result, "records": records}


def gold(row: dict, task: Task):
    """The row's gold answer as a record keeps it: the value of a single gold column, else {column: value}."""
    if len(task.gold_columns) == 1:
        return row[task.gold_columns[0]]
    return {column: row[column] for column in task.gold_columns}


def read_evaluation(path: str, key: str) -> dict | None:
    """An earlier `evaluate_sets` result in `path` on the same evaluation sets (`key`), if there is one."""
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        result = json.load(f)
    return result if isinstance(result, dict) and result.get("eval_set") == key else None


def evaluate_sets(path: str, key: str, sets: dict, model, tokenizer, task: Task, max_new_tokens: int,
                  batch_size: int = 64, lora_path: str | None = None, desc: str = "eval", reuse: bool = False) -> dict:
    """`evaluate` on each named set, into one JSON file: {"eval_set": key, "sets": {name: result}}, every completion
    included. `key` names what was evaluated (a test folder, "generated"): with `reuse`, an earlier file with the same
    key is read instead (resumed runs). The task's `extra(result, dataset)` adds entries to each set's result; its
    `headline(result)` is the percentage printed for each set."""
    if reuse and (earlier := read_evaluation(path, key)) is not None:
        print(f"[eval] reusing {path}")
        return earlier
    results = {}
    for name, dataset in sets.items():
        result = evaluate(model, tokenizer, dataset, task, max_new_tokens, batch_size, lora_path, f"{desc} {name}")
        results[name] = {**result, **task.extra(result, dataset)} if task.extra else result
    write_json(path, {"eval_set": key, "sets": results})
    print(f"[eval] {desc}: " + ", ".join(f"{name} {task.headline(r):.1f} %" for name, r in results.items())
          + f" -> {path}")
    return {"eval_set": key, "sets": results}


def limited(sets: dict, limit: int | None) -> dict:
    """Each set cut to its first `limit` rows (--eval_limit)."""
    if limit is None:
        return sets
    return {name: rows.select(range(min(limit, len(rows)))) for name, rows in sets.items()}


def evaluate_stage(stage: str, model, tokenizer, sets: dict, task: Task, args: RecipeArguments,
                   training_args: GRPOConfig, lora_path: str | None = None, key: str | None = None,
                   folder: str | None = None) -> dict | None:
    """The recipe's `before` or `after` evaluation of its sets (`load_eval_sets`) into
    `<folder or output_dir>/eval_<stage>.json`, unless `--skip_eval`. `key` names the sets (default: their names).
    A resumed run reuses the `before` result it already has of the same sets."""
    if args.skip_eval:
        return None
    return evaluate_sets(os.path.join(folder or training_args.output_dir, f"eval_{stage}.json"),
                         key or " + ".join(sets), limited(sets, args.eval_limit), model, tokenizer, task,
                         training_args.max_completion_length, args.eval_batch_size, lora_path, desc=f"eval {stage}",
                         reuse=stage == "before" and resume_checkpoint(training_args) is not None)


def results_table(before: dict | None, after: dict | None, published: tuple[float, float] | None) -> str:
    """The before/after table a run ends with, for each evaluation set (`evaluate_sets` results), beside the published
    numbers."""
    def cell(result, key, unit):
        return "-" if result is None or key not in result else f"{result[key]:.2f}{unit}"

    if before is None and after is None:
        return "(not evaluated: --skip_eval)"
    blocks = []
    for name in (after or before)["sets"]:
        first, last = ((r or {}).get("sets", {}).get(name) for r in (before, after))
        rows = [("accuracy", "accuracy", " %"), ("lenient accuracy", "lenient_accuracy", " %"),
                ("format compliance", "format_rate", " %"), ("mean completion tokens", "mean_completion_tokens", "")]
        has_lenient = any(r and "lenient_accuracy" in r for r in (first, last))
        rows = [row for row in rows if row[1] != "lenient_accuracy" or has_lenient]
        lines = [f"{'':24}{'before':>12}{'after':>12}" + ("   published (before -> after)" if published else ""),
                 *(f"{label:24}{cell(first, key, unit):>12}{cell(last, key, unit):>12}" for label, key, unit in rows)]
        if published:
            lines[1] += f"   {published[0]:.2f} % -> {published[1]:.2f} %"
        n = (last or first or {}).get("n")
        if n:
            lines.append(f"({n} questions of the {name} set, greedy decoding)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def accuracies(result: dict | None) -> dict | None:
    """{"3ppl": 0.4, …, "avg": …}: each set's accuracy as a fraction, as Logic-RL's table prints them, and the average
    over the sets."""
    if result is None:
        return None
    sizes = {size: r["accuracy"] / 100 for size, r in result["sets"].items()}
    return {**sizes, "avg": sum(sizes.values()) / len(sizes)}


def accuracy_table(before: dict | None, after: dict | None, after_label: str, published: str, source: str) -> str:
    """Logic-RL's table: a row per model, a column per evaluation set and the average; then the `published` line,
    format and length, and how many questions of each set were asked (`source`: what they are)."""
    columns = [*(after or before)["sets"], "avg"]
    lines = [f"{'':16}" + "".join(f"{c:>7}" for c in columns)]
    for label, result in (("before", before), (after_label, after)):
        row = accuracies(result)
        lines.append(f"{label:16}" + "".join(f"{row[c]:>7.2f}" if row else f"{'-':>7}" for c in columns))
    lines.append(published)
    for label, result in (("before", before), (after_label, after)):
        if result:
            records = [r for size in result["sets"].values() for r in size["records"]]
            lines.append(f"{label}: format {100 * sum(r['format'] for r in records) / len(records):.1f} %, "
                         f"mean completion {sum(r['tokens'] for r in records) / len(records):.0f} tokens")
    count = next(iter((after or before)["sets"].values()))["n"]
    lines.append(f"({count} {source}; greedy decoding)")
    return "\n".join(lines)
