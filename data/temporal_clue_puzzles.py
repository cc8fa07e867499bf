"""Temporal Clue puzzles (system D, OpenPipe), generated from a seed with OR-Tools' CP-SAT solver. The night and its
rules are in `data/temporal_clue_night.py`, their CP-SAT model in `data/temporal_clue_solver.py`, the questions in
`data/temporal_clue_questions.py`, the random clues in `data/temporal_clue_clues.py`, the wording in
`data/temporal_clue_text.py`; `data/temporal_clue.py` makes dataset rows of the puzzles. The questions ask who, with
what, where, when and why, plus bonus questions ("Where was the Knife at 11:00 PM?"); the clues must pin down every
answer.

How a puzzle is made (`puzzle(seed, index)`):
1. Sizes drawn as OpenPipe's generator drew them (`draw_sizes`), so that a stream has the public set's mix: 2 to 10
   suspects, 2 to 8 weapons, 2 to 17 rooms in 1 to 4 columns, 1 to 12 times 15, 30 or 60 minutes apart, unique or
   shared motives.
2. The true night (`simulate`): a seeded random walk for every person, weapons carried along by a suspect in their
   room, and a murder where a suspect is alone with a weapon; without such a moment everything is drawn again.
3. The questions (`questions`), and whether the weapon and the time are given away as clues instead of asked, about
   as often as in the public puzzles.
4. Clues until the answers are unique. CP-SAT looks for another night that obeys the rules and the clues so far but
   answers some question differently; three clues true of the real night and false of that one are added, until
   there is no such night (INFEASIBLE). Each clue is an assumption literal of one model, so every check is one
   solve, and the solver's unsatisfiable core tells which clues were needed. If only the murder's time or weapon
   tells the two nights apart (two weapons side by side all night, say), that fact becomes a clue, not a question.
5. Clues that are not needed are dropped: all outside the core, then, if the puzzle is still over its clue count,
   one clue at a time while the answers stay unique.
6. True clues are added up to the count a public puzzle of that size has (`clue_target`). OpenPipe pruned its clues
   until the whole night was unique, not only the answers, so its puzzles carry more than the answers need; without
   these ours would be shorter and easier to search.

Each puzzle is `{"num_clues": int, "prompt": str, "solution": {"A": "Mrs. White", ...}}`, the public files' format.
The same seed and index give the same puzzle on any machine: Python's `random` is seeded with a string, and CP-SAT
runs one worker with a fixed seed and a deterministic time limit (a puzzle it cannot settle within the limit is drawn
again from the next sub-seed).

Differences from OpenPipe's generator (bradhilton/temporal-clue, MIT):
- It made the whole night unique; we make the answers unique, then pad (step 6).
- "X or Y" is read as an inclusive or. OpenPipe's solver read it as "exactly one", which the prompt does not say:
  11 of the 128 public puzzles have other answers under the inclusive reading. Ours are unique under it, hence
  under both (each of our "or" clues has one true and one false side, as OpenPipe's did).
- "A suspect motivated by Anger moved from the Hall to the Study" means one suspect made that move (OpenPipe's: one
  suspect with that motive was in the Hall, and one, maybe another, in the Study next).
- "Mr. Boddy was murdered by X" (3 of the 128 public puzzles) is never a clue: who did it is always asked.
"""

import random

from data.temporal_clue_clues import CLUE_WEIGHTS, Clues
from data.temporal_clue_night import Night, holds, simulate
from data.temporal_clue_questions import Question, questions
from data.temporal_clue_solver import Model
from data.temporal_clue_text import Text, render

ATTEMPTS = 20  # sub-seeds tried for one puzzle before giving up
BATCH = 3  # clues added against each night that answers differently


def clue_target(night: Night, rng: random.Random) -> int:
    """About as many clues as a public puzzle of this size has: a least-squares fit to the 128 public puzzles (within
    2.7 clues, 12 %, of theirs), with their spread of 12 % either way."""
    pieces, times = len(night.suspects) + len(night.weapons), len(night.times)
    return round((0.416 * (pieces + 1) * times + 0.86 * pieces - 1.55) * rng.uniform(0.88, 1.12))


def make_clues(night: Night, asked: list[Question], given: list[tuple], rng: random.Random) -> list[tuple] | None:
    """Steps 4 to 6 of the module's docstring: clues true of the night that make every answer unique, padded with
    true clues up to `clue_target`, in random order; None if the solver could not settle it within its limit. A
    question answered by a clue instead (the time or the weapon of the murder) moves from `asked` to `given`."""
    model = Model(night)
    model.hint(night)  # other nights are searched for near the real one: their clues then stay needed more often
    answers = {q.expr for q in asked}  # a clue may not simply state an answer
    draw = Clues(night, rng)
    kinds, weights = list(CLUE_WEIGHTS), list(CLUE_WEIGHTS.values())
    solver_seed = rng.randrange(2**31)
    others = []  # nights that obey the rules and answer differently: each shows the clues it breaks are needed

    def another_answer():
        """A literal that asks for a night answering some question differently."""
        literal = model.model.new_bool_var("another answer")
        model.model.add_bool_or([model.literal(q.expr).Not() for q in asked]).only_enforce_if(literal)
        return literal

    def solve(clues: list[tuple]) -> tuple[str, Night | None, list[tuple]]:
        """(status, a night answering differently, the clues in the solver's unsatisfiable core)."""
        status, other, core = model.solve([model.literal(c) for c in clues] + [check], solver_seed)
        if other is not None:
            others.append(other)
        return status, other, [c for c in clues if c in given or model.literal(c).Index() in core]

    def needed(clue: tuple, clues: list[tuple]) -> bool:
        """Shown needed by a night found earlier: it breaks this clue and no other."""
        return any(not holds(clue, o) and all(holds(c, o) for c in clues if c != clue) for o in others)

    check, clues = another_answer(), list(given)
    while (found := solve(clues))[0] != "INFEASIBLE":
        status, other, core = found
        if other is None:
            return None
        added = 0  # a few clues against each other night: fewer solves, and the core drops the extra ones
        for _ in range(1000):
            clue = draw.draw(rng.choices(kinds, weights)[0])
            if clue is not None and clue not in answers and clue not in clues and not holds(clue, other):
                clues.append(clue)
                added += 1
                if added == BATCH:
                    break
        if not added:
            fact = next((q for q in asked if q.kind in ("when", "what") and not holds(q.expr, other)), None)
            if fact is None:
                return None
            asked.remove(fact)
            given.append(fact.expr)
            clues.append(fact.expr)
            check = another_answer()

    # Drop what is not needed. First the solver's core, while it shrinks; each is solved again before it is taken:
    # with probing off, CP-SAT's core can leave out an assumption it needed.
    core = found[2]
    while len(core) < len(clues):
        status, _, smaller = solve(core)
        if status != "INFEASIBLE":
            break
        clues, core = core, smaller
    target = clue_target(night, rng)
    if len(clues) >= target:
        # Then one clue at a time, statements about one piece first, so that what stays asks for more steps. Below
        # the target this is not worth its solves: the padding adds true clues that are not needed anyway.
        order = [c for c in clues if c not in given]
        rng.shuffle(order)
        order.sort(key=lambda c: c[0] not in ("at", "motive"))
        for clue in order:
            if not needed(clue, clues):
                trial = [c for c in clues if c != clue]
                status, _, _ = solve(trial)
                if status == "INFEASIBLE":
                    clues = trial
                elif status not in ("OPTIMAL", "FEASIBLE"):
                    return None
    for _ in range(100 * target):
        if len(clues) >= target:
            break
        clue = draw.draw(rng.choices(kinds, weights)[0])
        if clue is not None and clue not in answers and clue not in clues:
            clues.append(clue)
    rng.shuffle(clues)
    return clues


# --- Puzzles ------------------------------------------------------------------------------------------------------

def letters(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]


def puzzle(seed: int, index: int) -> dict:
    """Puzzle number `index` of the stream for `seed`: `{"num_clues", "prompt", "solution"}`. Each puzzle depends only
    on (seed, index), so any slice of a stream can be made alone, in any order or in parallel."""
    for attempt in range(ATTEMPTS):
        rng = random.Random(f"temporal-clue/{seed}/{index}/{attempt}")
        night = simulate(rng)
        asked, given = questions(night, rng)
        clues = make_clues(night, asked, given, rng)
        if clues is None:
            continue
        text, main = Text(night), [q for q in asked if q.kind != "bonus"]
        keys = letters(len(asked))
        shared = any(night.shared(m) for m in range(len(night.motives)))
        prompt = render(
            night.suspects, night.weapons, night.rooms, night.columns, night.times, night.motives,
            [night.motive.count(m) for m in range(len(night.motives))] if shared else None,
            [text.clue(c) for c in clues], [f"{k}. {q.text}" for k, q in zip(keys, main)],
            [f"{k}. {q.text}" for k, q in zip(keys[len(main):], asked[len(main):])],
            [f"{k}. {q.word}" for k, q in zip(keys, asked)])
        return {"num_clues": len(clues), "prompt": prompt, "solution": {k: q.answer for k, q in zip(keys, asked)}}
    raise RuntimeError(f"no Temporal Clue puzzle for seed {seed}, index {index} in {ATTEMPTS} attempts")
