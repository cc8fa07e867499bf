"""A run's report: one HTML page, `<run>/report.html`, that opens anywhere with nothing else (no network, the curves
drawn inline): what a run did, and what the model wrote before and after it.

    make report RUN=outputs/gsm8k-0.5b
    python -m recipes.tools.report outputs/gsm8k-0.5b --published 8.87 65.28

The page has four parts, each saying so when the files it reads are missing:
- the curves: mean reward, each reward function's mean, completion length, truncated share (`log_history.json`,
  or the newest checkpoint's state for a run still going; recipes/plot.py reads them);
- the before/after table (`eval_before.json`, `eval_after.json`), beside the published accuracy (before -> after)
  when it is given (`--published`, or the recipe's `Task.published`: the result files do not hold it);
- before and after completions side by side for the same questions, right and wrong marked: the first few, then
  those that went from wrong to right;
- training completions with their rewards at a few steps (`completions.jsonl`, see recipes/common/samples.py).
A run trained in stages (`stage-1/`, `stage-2/`, ... as the Knights and Knaves recipe writes them) is read as one:
the curves follow on from stage to stage, `before` is the first evaluation found and `after` the last stage's.
This file reads the run; recipes/tools/report_page.py draws the parts (every text a model wrote escaped).
"""

import argparse
import glob
import json
import os
import re

from recipes.errors import RecipeError
from recipes.tools.plot import load_history
from recipes.tools.report_page import (COMPLETIONS, STYLE, curves_section, esc, pairs_section,
                                       results_section, samples_section)


def write_report(run_dir: str, published: tuple[float, float] | None = None) -> str:
    """Write `<run_dir>/report.html` and return its path. `published`: the source's accuracy (%) before and after."""
    if not os.path.isdir(run_dir):
        raise RecipeError(f"no run folder at {run_dir}")
    path = os.path.join(run_dir, "report.html")
    if os.environ.get("RANK", "0") != "0":  # a later process of a multi-process run: the first one writes the page
        return path  # (from files it may still be writing; recipes.common.start reads RANK the same way)
    parts = run_parts(run_dir)
    before, _ = first_found([run_dir, *(folder for _, folder in parts)], "eval_before.json")
    after, after_where = first_found([*(folder for _, folder in reversed(parts)), run_dir], "eval_after.json")
    histories = [(label, read_history(folder)) for label, folder in parts]
    samples = [(label, read_samples(folder)) for label, folder in parts]
    if before is None and after is None and all(h is None for _, h in histories) and not any(s for _, s in samples):
        raise RecipeError(f"{run_dir} is not a run folder: no log_history.json, checkpoint-*/, eval_before.json, "
                          f"eval_after.json or {COMPLETIONS} in it")
    name = os.path.basename(os.path.abspath(run_dir))
    after_label = after_name(run_dir, after_where)
    page = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(name)}: run report</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{esc(name)}</h1><p class='note'>Run report of {esc(os.path.abspath(run_dir))}</p>",
            "<h2>Curves</h2>", curves_section(histories),
            "<h2>Before and after</h2>", results_section(before, after, after_label, published),
            "<h2>The same questions, before and after</h2>", pairs_section(before, after, after_label),
            "<h2>Training completions</h2>", samples_section(samples),
            "</body></html>"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(page))
    return path


# --- Reading a run --------------------------------------------------------------------------------------------------

def run_parts(run_dir: str) -> list[tuple[str, str]]:
    """(label, folder) of each part of a run: its stages in order, or the folder itself."""
    stages = [p for p in glob.glob(os.path.join(run_dir, "stage-*")) if re.fullmatch(r"stage-\d+", os.path.basename(p))]
    stages.sort(key=lambda p: int(p.rsplit("-", 1)[1]))
    return [(os.path.basename(p).replace("-", " "), p) for p in stages] or [("", run_dir)]


def read_json(path: str):
    """The JSON in `path`; None if there is no such file; a file that does not parse is an error of its own."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as e:
        raise RecipeError(f"{path} is not valid JSON ({e})") from None


def first_found(folders: list[str], filename: str) -> tuple[dict | None, str | None]:
    for folder in folders:
        if (data := read_json(os.path.join(folder, filename))) is not None:
            return data, folder
    return None, None


def after_name(run_dir: str, folder: str | None) -> str:
    relative = os.path.relpath(folder, run_dir) if folder else "."
    return "after" if relative == "." else f"after {relative.replace('-', ' ')}"


def read_history(folder: str) -> list[dict] | None:
    try:
        return load_history(folder)
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise RecipeError(f"the logged history in {folder} is not valid JSON ({e})") from None


def read_samples(folder: str) -> list[dict]:
    """The kept training completions of one folder; a line cut short (a killed run) is passed over."""
    path = os.path.join(folder, COMPLETIONS)
    if not os.path.isfile(path):
        return []
    samples = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                samples.append(json.loads(line))
            except ValueError:
                continue
    return [s for s in samples if isinstance(s, dict) and isinstance(s.get("step"), int)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m recipes.tools.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="the run's folder (its --output_dir)")
    parser.add_argument("--published", nargs=2, type=float, metavar=("BEFORE", "AFTER"),
                        help="the source's accuracy in %% before and after, shown beside the run's")
    args = parser.parse_args(argv)
    try:
        print(write_report(args.run_dir, tuple(args.published) if args.published else None))
    except RecipeError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
