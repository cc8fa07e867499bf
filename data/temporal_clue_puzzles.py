"""Temporal Clue puzzles (system D, OpenPipe), generated from a seed with OR-Tools' CP-SAT solver. The night and its
rules are in `data/temporal_clue_night.py`, their CP-SAT model in `data/temporal_clue_solver.py`, the wording in
`data/temporal_clue_text.py`; `data/temporal_clue.py` makes dataset rows of the puzzles. The questions ask who, with
what, where, when and why, plus bonus questions ("Where was the Knife at 11:00 PM?"); the clues must pin down every
answer.

How a puzzle is made (`puzzle(seed, index)`):
1. Sizes drawn as OpenPipe's generator drew them (`draw_sizes`), so that a stream has the public set's mix: 2 to 10
   suspects, 2 to 8 weapons, 2 to 17 rooms in 1 to 4 columns, 1 to 12 times 15, 30 or 60 minutes apart, unique or
   shared motives.
2. The true night (`simulate`): a seeded random walk for every person, weapons carried along by a suspect in their
   room, and a murder where a suspect is alone with a weapon; without such a moment everything is drawn again.
3. The questions, and whether the weapon and the time are given away as clues instead of asked, about as often as
   in the public puzzles.
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
from dataclasses import dataclass

from data.temporal_clue_night import DIRECTIONS, DIRECTIONS_OPPOSITE, Night, holds, simulate
from data.temporal_clue_solver import Model
from data.temporal_clue_text import QUESTIONS, Text, render

# The public puzzles give the weapon (33 of 128) or the time (45 of the 112 with times) as a clue instead of asking
# it. Ours must give the time where nothing else tells it apart (one puzzle in three: the murderer, Mr. Boddy and the
# weapon often stay together for a while), the weapon rarely (1 in 100); these chances make up the rest. Bonus
# questions fill up to 8 questions, each kept 7 times in 10: OpenPipe dropped one when its answer was a needed clue,
# which left the public puzzles 1.3 fewer than 8 on average.
WEAPON_GIVEN, TIME_GIVEN, BONUS_KEPT = 0.25, 0.1, 0.7

# Clue kinds drawn while the answers are not yet unique, and their weights (tuned so that the finished puzzles have
# about the public set's mix of kinds).
CLUE_WEIGHTS = {"at": 7, "move": 5, "carry": 3, "same_room": 5, "together": 4.5, "beside": 7, "motive": 0.5, "or": 4,
                "iff": 4}

ATTEMPTS = 20  # sub-seeds tried for one puzzle before giving up
BATCH = 3  # clues added against each night that answers differently


# --- Drawing clues that are true of the night ----------------------------------------------------------------------

class Clues:
    """Random true clues (and false statements to pair with them) about one night."""

    def __init__(self, night: Night, rng: random.Random):
        self.night, self.rng = night, rng
        self.moves = [(("suspect", s), t) for s in range(len(night.suspects)) for t in range(1, len(night.times))
                      if night.where["suspect", s][t - 1] != night.where["suspect", s][t]]
        self.carries = [(("suspect", s), ("weapon", w), t) for s in range(len(night.suspects))
                        for w in range(len(night.weapons)) for t in range(1, len(night.times))
                        if night.where["weapon", w][t - 1] != night.where["weapon", w][t]
                        and night.where["weapon", w][t - 1:t + 1] == night.where["suspect", s][t - 1:t + 1]]

    def describe(self, piece: tuple) -> tuple:
        """The piece by name, or as the murderer, the murder weapon or the suspect with its motive."""
        night, options = self.night, [piece]
        if piece == ("suspect", night.murderer):
            options.append(("murderer", 0))
        if piece == ("weapon", night.weapon):
            options.append(("murder weapon", 0))
        if piece[0] == "suspect" and len(night.motives) > 1:
            options.append(("motive", night.motive[piece[1]]))
        return self.rng.choice(options)

    def draw(self, kind: str) -> tuple | None:
        """A random true clue of this kind, or None when the night has none to offer."""
        night, rng = self.night, self.rng
        n_times = len(night.times)
        if kind == "at":
            return self.true_at()
        if kind == "move":
            if not self.moves:
                return None
            piece, t = rng.choice(self.moves)
            return ("move", self.describe(piece), t, night.where[piece][t - 1], night.where[piece][t])
        if kind == "carry":
            if not self.carries:
                return None
            suspect, weapon, t = rng.choice(self.carries)
            subject = self.describe(suspect)
            if subject == suspect and weapon == ("weapon", night.weapon) and rng.random() < 0.5:
                weapon = ("murder weapon", 0)
            return ("carry", subject, weapon, t, night.where[suspect][t - 1], night.where[suspect][t])
        if kind in ("same_room", "together"):
            if kind == "together" and n_times == 1:
                return None
            t = rng.randrange(n_times)
            first = rng.choice(night.pieces)
            others = [p for p in night.pieces if p != first and night.where[p][t] == night.where[first][t]]
            if not others:
                return None
            second = rng.choice(others)
            subject = self.describe(first) if second[0] != "suspect" else first
            return (kind, subject, second, t if kind == "same_room" else night.where[first][t])
        if kind == "beside":
            t, first = rng.randrange(n_times), rng.choice(night.pieces)
            direction = rng.choice(list(DIRECTIONS))
            room = night.neighbour(night.where[first][t], DIRECTIONS_OPPOSITE[direction])
            others = [p for p in night.pieces if night.where[p][t] == room]
            return ("beside", first, rng.choice(others), t, direction) if others else None
        if kind == "motive":
            if len(night.motives) < 2:
                return None
            s = rng.randrange(len(night.suspects))
            return ("motive", s, night.motive[s])
        if kind == "or":
            pair = [self.true_at(), self.false_at()]
            rng.shuffle(pair)
            return ("or", *pair) if pair[0] != pair[1] else None
        if kind == "iff":
            pair = (self.true_at(), self.true_at()) if rng.random() < 0.5 else (self.false_at(), self.false_at())
            return ("iff", *pair) if pair[0] != pair[1] else None
        raise ValueError(f"unknown clue kind {kind!r}")

    def true_at(self) -> tuple:
        piece, t = self.rng.choice(self.night.pieces), self.rng.randrange(len(self.night.times))
        return ("at", self.describe(piece), t, self.night.where[piece][t])

    def false_at(self) -> tuple:
        while True:
            piece, t = self.rng.choice(self.night.pieces), self.rng.randrange(len(self.night.times))
            statement = ("at", self.describe(piece), t, self.rng.randrange(len(self.night.rooms)))
            if not holds(statement, self.night):
                return statement


@dataclass
class Question:
    kind: str  # who, what, where, when, why or bonus
    expr: tuple  # true exactly when the answer is the real one
    text: str
    word: str  # what the answer line asks for: SUSPECT, ROOM, ...
    answer: str


def questions(night: Night, rng: random.Random) -> tuple[list[Question], list[tuple]]:
    """The questions, and the murder facts given away as clues instead (the weapon, the time)."""
    text = Text(night)
    facts = {"who": ("killer", night.murderer, night.suspects[night.murderer]),
             "what": ("weapon", night.weapon, night.weapons[night.weapon]),
             "where": ("room", night.room, night.rooms[night.room]),
             "when": ("time", night.time, night.times[night.time]),
             "why": ("why", night.motive[night.murderer], night.motives[night.motive[night.murderer]])}
    given = []
    if rng.random() < WEAPON_GIVEN:
        given.append(facts.pop("what")[:2])
    if len(night.times) < 2:
        facts.pop("when")  # one time: nothing to ask
    elif rng.random() < TIME_GIVEN:
        given.append(facts.pop("when")[:2])
    if len(night.motives) < 2:
        facts.pop("why")
    asked = [Question(kind, (fact, index), QUESTIONS[kind][0], QUESTIONS[kind][1], answer)
             for kind, (fact, index, answer) in facts.items()]

    bonus = []
    for t in range(len(night.times)):
        for piece in night.pieces:
            room = night.where[piece][t]
            if piece[0] != "boddy":
                bonus.append(("at", piece, t, room))
            if piece[0] == "suspect" and len(night.motives) > 1 and not night.shared(night.motive[piece[1]]):
                bonus.append(("at", ("motive", night.motive[piece[1]]), t, room))
    if len(night.motives) > 1:
        bonus += [("motive", s, m) for s, m in enumerate(night.motive)]
    count = sum(rng.random() < BONUS_KEPT for _ in range(8 - len(asked)))
    for expr in rng.sample(bonus, min(len(bonus), count)):
        if expr[0] == "at":
            words, answer = text.question(expr), night.rooms[expr[3]]
        elif night.shared(expr[2]) or rng.random() < 0.5:
            words, answer = text.question(expr), night.motives[expr[2]]
        else:
            words, answer = text.question(expr, who=True), night.suspects[expr[1]]
        asked.append(Question("bonus", expr, *words, answer))
    return asked, given


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
