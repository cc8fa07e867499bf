"""Which recipes there are: every recipes/*.py that has a recipe's shape, read from the files themselves, so that a
new recipe file is known to the launcher, the evaluation and the benchmark without an edit anywhere else."""

import ast
import importlib
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parents[1]
SHAPE = {"DEFAULTS", "TASK", "load_data", "load_eval_sets", "main"}  # what every recipe defines at its top level


def defined_names(path: Path) -> set[str]:
    """The names a Python file defines at its top level (read, not imported: a recipe loads Unsloth when imported)."""
    names = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def recipe_names() -> list[str]:
    """The module names of the recipes, in order: `gsm8k_0_5b` for recipes/gsm8k_0_5b.py."""
    return sorted(path.stem for path in RECIPES_DIR.glob("*.py") if SHAPE <= defined_names(path))


def load_recipe(name: str):
    """The recipe module `recipes.<name>`."""
    return importlib.import_module(f"recipes.{name}")
