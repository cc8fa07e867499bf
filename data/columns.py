"""The columns a loader passes on from its source. GRPOTrainer hands every dataset column to the reward functions by
name and reads some itself, and the evaluation reads `prompt` and the task's gold columns: a source's own column
of such a name must never be taken for the one a loader builds. So a loader either keeps only the columns it reads,
naming the ones it leaves out (`keep_columns`), or keeps the others and refuses, in one line, a column whose name it
builds or the trainer uses (`refuse_clashes`)."""

from collections.abc import Iterable

from recipes.errors import RecipeError

# What TRL 1.14.2's GRPOTrainer does with a column of these names: it passes `prompts`, `completions` and
# `completion_ids` to the rewards itself (a column of the same name fails the call); it puts its own `trainer_state`,
# `log_extra`, `log_metric` and `environments` in their place; it gives no reward a `completion` column; and it reads
# `image` and `images` as pictures.
TRAINER_COLUMNS = ("prompts", "completions", "completion_ids", "completion", "trainer_state", "log_extra",
                   "log_metric", "environments", "image", "images")


def quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)


def keep_columns(names: Iterable[str], kept: Iterable[str], source: str) -> list[str]:
    """The columns of `kept`, to read from a source with columns `names`; the others are named in one printed line,
    as left out."""
    kept = list(kept)
    left_out = [name for name in dict.fromkeys(names) if name not in kept]
    if left_out:
        print(f"[data] {source}: left out its column(s) {quoted(left_out)}; only {quoted(kept)} are read")
    return kept


def refuse_clashes(names: Iterable[str], built: Iterable[str], source: str) -> None:
    """A RecipeError, one line, if a source with columns `names` has one that the loader builds (`built`) or one
    that GRPOTrainer takes for its own."""
    names, built = list(dict.fromkeys(names)), set(built)
    ours = [name for name in names if name in built]
    if ours:
        raise RecipeError(f"{source} has its own column(s) {quoted(ours)}, which the loader makes: rename or remove "
                          "them")
    trainers = [name for name in names if name in TRAINER_COLUMNS]
    if trainers:
        raise RecipeError(f"{source} has column(s) {quoted(trainers)}, a name GRPOTrainer gives its own meaning: "
                          "rename or remove them")
