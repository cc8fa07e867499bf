"""Temporal Clue puzzles (system D, OpenPipe): generated from a seed with OR-Tools' CP-SAT solver, or loaded from the
public puzzle files.

A puzzle is Cluedo as a one-player logic puzzle. Suspects, weapons and Mr. Boddy are in rooms laid out on a grid at
each of a few times of the night; from one time to the next a person stays or moves to an orthogonally adjacent
room, and a weapon moves only with a suspect who makes the same move. The murderer and Mr. Boddy were alone (no other
suspect) in a room with the murder weapon at the murder time, and Mr. Boddy stays in that room from then on. Each
suspect has a motive. The questions ask who, with what, where, when and why, plus bonus questions ("Where was the
Knife at 11:00 PM?"); the clues must pin down every answer.

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

The prompt is the public puzzles' text, layout and answer-format block, word for word. Each puzzle is
`{"num_clues": int, "prompt": str, "solution": {"A": "Mrs. White", ...}}`, the public files' format, which `load`
reads. `python -m data.temporal_clue --count 100 --seed 1 --out puzzles.json` makes and saves some, and prints how
long they took. The same seed and index give the same puzzle on any machine: Python's `random` is seeded with a
string, and CP-SAT runs one worker with a fixed seed and a deterministic time limit (a puzzle it cannot settle within
the limit is drawn again from the next sub-seed).

Differences from OpenPipe's generator (bradhilton/temporal-clue, MIT):
- It made the whole night unique; we make the answers unique, then pad (step 6).
- "X or Y" is read as an inclusive or. OpenPipe's solver read it as "exactly one", which the prompt does not say:
  11 of the 128 public puzzles have other answers under the inclusive reading. Ours are unique under it, hence
  under both (each of our "or" clues has one true and one false side, as OpenPipe's did).
- "A suspect motivated by Anger moved from the Hall to the Study" means one suspect made that move (OpenPipe's: one
  suspect with that motive was in the Hall, and one, maybe another, in the Study next).
- "Mr. Boddy was murdered by X" (3 of the 128 public puzzles) is never a clue: who did it is always asked.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass

from data.files import read_json
from recipes.errors import RecipeError

SUSPECTS = ["Miss Peach", "Monsieur Brunette", "Mr. Green", "Professor Plum", "Mrs. White", "Colonel Mustard",
            "Miss Scarlet", "Mrs. Peacock", "Sgt. Gray", "Madame Rose"]
WEAPONS = ["Candlestick", "Wrench", "Lead Pipe", "Revolver", "Poison", "Knife", "Rope", "Horseshoe"]
ROOMS = ["Studio", "Gazebo", "Lounge", "Drawing Room", "Library", "Trophy Room", "Cloak Room", "Courtyard", "Kitchen",
         "Fountain", "Dining Room", "Carriage House", "Ballroom", "Hall", "Conservatory", "Billiard Room", "Study"]
MOTIVES = ["Jealousy", "Ambition", "Power", "Betrayal", "Anger", "Fear", "Greed", "Hatred", "Revenge", "Pride"]
BODDY = "Mr. Boddy"

# Grid columns for a number of rooms (a choice where there are two), as in OpenPipe's generator.
COLUMNS = {2: (1, 2), 3: (2,), 4: (2,), 5: (2, 3), 6: (2, 3), 7: (3,), 8: (3,), 9: (3,), 10: (3, 4), 11: (3, 4),
           12: (3, 4), 13: (4,), 14: (4,), 15: (4,), 16: (4,), 17: (4,)}
DIRECTIONS = {"north": (0, -1), "south": (0, 1), "east": (1, 0), "west": (-1, 0)}  # (column, row) step; row 0 north
DIRECTIONS_OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}

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

# CP-SAT's limit per solve, in its deterministic time units (about seconds, but the same on every machine).
SOLVE_LIMIT = 20.0
ATTEMPTS = 20  # sub-seeds tried for one puzzle before giving up
BATCH = 3  # clues added against each night that answers differently

INTRO = ("On a dark winter night, wealthy and enigmatic Mr. John Q. Boddy hosted a small, but lavish, dinner party "
         "for some of his closest associates. However, the night ended in tragedy when Mr. Boddy was found dead in one "
         "of the rooms of Tudor Mansion in the early hours of the morning. The following persons of interest have been "
         "identified as suspects:")
TIMES_INTRO = ("The exact time of the murder is a bit uncertain, but it has been narrowed down to one of the following "
               "times:")
MOVES = ("At every time the suspects and Mr. Boddy either stayed in their current room or moved to an orthogonally "
         "adjacent room (north, south, east, or west). Weapons could be moved by suspects between rooms as well.")
RULE = "For the murder to occur, the murderer and Mr. Boddy must have been alone in a room with at least one weapon"
NIGHT = (" at some point in the night. Any clue about Mr. Boddy's whereabouts should be read as \"Mr. Boddy (dead or "
         "alive) ...\"")

# The main questions, by kind, and the word their answer line asks for.
QUESTIONS = {"who": ("Who murdered Mr. Boddy?", "SUSPECT"), "what": ("What weapon did the murderer use?", "WEAPON"),
             "where": ("Where was the murder committed?", "ROOM"), "when": ("When did the murder occur?", "TIME"),
             "why": ("Why did the murderer do it?", "MOTIVE")}
QUESTION_KINDS = (*QUESTIONS, "bonus")


# --- The night: sizes, layout and what really happened -----------------------------------------------------------

@dataclass
class Night:
    """One scenario. Pieces are ("suspect", i), ("weapon", i) and ("boddy", 0); `where[piece][t]` is the room index
    of a piece at time index t; `motive[i]` is suspect i's index into `motives`."""
    suspects: list[str]
    weapons: list[str]
    rooms: list[str]
    columns: int
    times: list[str]
    motives: list[str]
    motive: list[int]
    where: dict[tuple, list[int]]
    murderer: int
    weapon: int
    room: int
    time: int

    @property
    def pieces(self) -> list[tuple]:
        return list(self.where)

    def cell(self, room: int) -> tuple[int, int]:
        return room % self.columns, room // self.columns

    def neighbour(self, room: int, direction: str) -> int | None:
        """The room just north (south, east, west) of `room`, if there is one."""
        (column, row), (dc, dr) = self.cell(room), DIRECTIONS[direction]
        column, row = column + dc, row + dr
        index = row * self.columns + column
        return index if 0 <= column < self.columns and row >= 0 and index < len(self.rooms) else None

    def neighbours(self, room: int) -> list[int]:
        return [n for d in DIRECTIONS if (n := self.neighbour(room, d)) is not None]

    def pairs(self, direction: str) -> list[tuple[int, int]]:
        """(a, b) for every room a just `direction` of a room b."""
        return [(a, b) for b in range(len(self.rooms)) if (a := self.neighbour(b, direction)) is not None]

    def shared(self, motive: int) -> bool:
        return self.motive.count(motive) > 1


def draw_sizes(rng: random.Random) -> dict:
    """Counts of suspects, weapons, rooms, times and motives, drawn as OpenPipe's generator drew them: a number of
    "players" from 1 to 6 caps each count, and each count grows from the one before."""
    players = rng.randint(1, 6)
    max_suspects, max_weapons = min(len(SUSPECTS), int(players * 2.5)), min(len(WEAPONS), int(players * 2.125))
    unique = rng.random() < 0.5
    weapons = max(2, min(players + rng.randint(-1, 5), max_weapons))
    suspects = min(weapons + rng.randint(0, weapons - 1), max_suspects)
    rooms = min(suspects + rng.randint(0, suspects - 2), min(len(ROOMS), players * 3))
    times = rng.randint(1, players * 2)
    motives = min(suspects, len(MOTIVES)) if unique else rng.randint(1, min(suspects, len(MOTIVES)))
    return dict(suspects=suspects, weapons=weapons, rooms=rooms, times=times, motives=motives, unique=unique)


def time_labels(count: int, rng: random.Random) -> list[str]:
    """`count` times a quarter, half or whole hour apart, around midnight: "11:30 PM", "12:00 AM", ..."""
    if count == 1:
        return ["12:00 AM"]
    step = rng.choice([15, 30, 60])
    start, end = 24 * 60 - step, 0
    for _ in range(count - 2):
        if rng.randint(0, 1):
            end += step
        else:
            start -= step
    labels = []
    for minutes in range(start, 24 * 60 + end + 1, step):
        hour, minute = divmod(minutes % (24 * 60), 60)
        labels.append(f"{(hour - 1) % 12 + 1:02d}:{minute:02d} {'AM' if hour < 12 else 'PM'}")
    return labels


def _walk(night: Night, start: int, steps: int, rng: random.Random) -> list[int]:
    rooms = [start]
    for _ in range(steps):
        rooms.append(rng.choice(night.neighbours(rooms[-1])) if rng.random() < 0.5 else rooms[-1])
    return rooms


def simulate(rng: random.Random) -> Night:
    """A random night that obeys the rules: suspects wander (a move half the time), each weapon is picked up by a
    suspect in its room and carried along four times in five when they leave, and the murderer is a suspect alone
    with a weapon at some time; Mr. Boddy's path leads to that room and time. Drawn again until a murder is
    possible."""
    while True:
        sizes = draw_sizes(rng)
        rooms = rng.sample(ROOMS, sizes["rooms"])
        motives = rng.sample(MOTIVES, sizes["motives"])
        n_suspects, n_times = sizes["suspects"], sizes["times"]
        motive = rng.sample(range(len(motives)), n_suspects) if sizes["unique"] else \
            [rng.randrange(len(motives)) for _ in range(n_suspects)]
        used = [m for m in range(len(motives)) if m in motive]  # a shared draw may leave motives unused
        night = Night(suspects=rng.sample(SUSPECTS, n_suspects), weapons=rng.sample(WEAPONS, sizes["weapons"]),
                      rooms=rooms, columns=rng.choice(COLUMNS[len(rooms)]), times=time_labels(n_times, rng),
                      motives=[motives[m] for m in used], motive=[used.index(m) for m in motive], where={},
                      murderer=0, weapon=0, room=0, time=0)
        for s in range(n_suspects):
            night.where["suspect", s] = _walk(night, rng.randrange(len(rooms)), n_times - 1, rng)
        for w in range(len(night.weapons)):
            path, holder = [rng.randrange(len(rooms))], None
            for t in range(1, n_times):
                room = path[-1]
                moved_to = night.where["suspect", holder][t] if holder is not None else room
                path.append(moved_to if moved_to != room and rng.random() < 0.8 else room)
                present = [s for s in range(n_suspects) if night.where["suspect", s][t] == path[-1]]
                holder = rng.choice(present) if present else None
            night.where["weapon", w] = path
        for _ in range(10):
            murderer, time = rng.randrange(n_suspects), rng.randrange(n_times)
            room = night.where["suspect", murderer][time]
            alone = all(night.where["suspect", s][time] != room for s in range(n_suspects) if s != murderer)
            weapons = [w for w in range(len(night.weapons)) if night.where["weapon", w][time] == room]
            if alone and weapons:
                night.murderer, night.weapon, night.room, night.time = murderer, rng.choice(weapons), room, time
                before = _walk(night, room, time, rng)[::-1]  # walked backwards from the murder
                night.where["boddy", 0] = before + [room] * (n_times - 1 - time)
                return night


# --- Clues and questions as expressions ------------------------------------------------------------------------
#
# A subject is a piece, or a description of one: ("murderer", 0), ("murder weapon", 0), ("motive", m) (the suspects
# with motive m). Expressions:
#   ("at", subject, t, room)                    the subject was in the room at time t
#   ("move", subject, t, room1, room2)          it moved from room1 (at t - 1) to room2 (at t)
#   ("carry", subject, weapon, t, room1, room2) it moved the weapon (a piece or the murder weapon) the same way
#   ("same_room", subject, piece, t)            both in one room at time t
#   ("together", subject, piece, room)          both in that room at one time at least
#   ("beside", subject, piece, t, direction)    the subject was in the room just north/south/... of the piece's
#   ("motive", i, m)                            suspect i's motive is m
#   ("killer", i), ("weapon", w), ("room", r), ("time", t), ("why", m)   the murder's facts
#   ("or", e1, e2), ("iff", e1, e2)

def resolve(subject: tuple, night: Night) -> list[tuple]:
    """The pieces a subject stands for in this night."""
    kind, index = subject
    if kind == "murderer":
        return [("suspect", night.murderer)]
    if kind == "murder weapon":
        return [("weapon", night.weapon)]
    if kind == "motive":
        return [("suspect", s) for s, m in enumerate(night.motive) if m == index]
    return [subject]


def holds(expr: tuple, night: Night) -> bool:
    """Whether an expression is true of a night."""
    kind, where = expr[0], night.where
    if kind == "at":
        _, subject, t, room = expr
        return any(where[p][t] == room for p in resolve(subject, night))
    if kind == "move":
        _, subject, t, a, b = expr
        return any(where[p][t - 1] == a and where[p][t] == b for p in resolve(subject, night))
    if kind == "carry":
        _, subject, weapon, t, a, b = expr
        return holds(("move", subject, t, a, b), night) and holds(("move", weapon, t, a, b), night)
    if kind == "same_room":
        _, subject, piece, t = expr
        return any(p != piece and where[p][t] == where[piece][t] for p in resolve(subject, night))
    if kind == "together":
        _, subject, piece, room = expr
        return any(p != piece and where[p][t] == room == where[piece][t]
                   for p in resolve(subject, night) for t in range(len(night.times)))
    if kind == "beside":
        _, subject, piece, t, direction = expr
        pairs = set(night.pairs(direction))
        return any((where[p][t], where[piece][t]) in pairs for p in resolve(subject, night))
    if kind == "motive":
        return night.motive[expr[1]] == expr[2]
    if kind == "or":
        return holds(expr[1], night) or holds(expr[2], night)
    if kind == "iff":
        return holds(expr[1], night) == holds(expr[2], night)
    facts = {"killer": night.murderer, "weapon": night.weapon, "room": night.room, "time": night.time,
             "why": night.motive[night.murderer]}
    return facts[kind] == expr[1]


class Text:
    """Clues and questions in the public puzzles' words."""

    def __init__(self, night: Night):
        self.night = night

    def name(self, subject: tuple) -> str:
        kind, index = subject
        night = self.night
        if kind == "suspect":
            return night.suspects[index]
        if kind == "weapon":
            return f"the {night.weapons[index]}"
        if kind == "boddy":
            return BODDY
        if kind == "motive":
            return f"{'a' if night.shared(index) else 'the'} suspect motivated by {night.motives[index]}"
        return f"the {kind}"

    def room(self, room: int) -> str:
        name = self.night.rooms[room]
        return f"{'at' if name == 'Fountain' else 'in'} the {name}"

    def at(self, t: int) -> str:
        return f" at {self.night.times[t]}" if len(self.night.times) > 1 else ""

    def clue(self, expr: tuple) -> str:
        text = self._sentence(expr)
        return text[0].upper() + text[1:]

    def _sentence(self, expr: tuple) -> str:
        kind, night = expr[0], self.night
        if kind in ("or", "iff"):
            return self.clue(expr[1]) + (" or " if kind == "or" else " if and only if ") + self._sentence(expr[2])
        if kind == "motive":
            return f"{night.suspects[expr[1]]} is motivated by {night.motives[expr[2]]}"
        if kind == "weapon":
            return f"Mr. Boddy was killed with the {night.weapons[expr[1]]}"
        if kind == "time":
            return f"Mr. Boddy was murdered at {night.times[expr[1]]}"
        subject, *rest = expr[1:]
        who = self.name(subject)
        if kind == "at":
            t, room = rest
            return f"{who} was {self.room(room)}{self.at(t)}"
        if kind in ("move", "carry"):
            *weapon, t, a, b = rest
            what = "".join(f" {self.name(w)}" for w in weapon)
            return f"{who} moved{what} from the {night.rooms[a]} to the {night.rooms[b]} at {night.times[t]}"
        piece, where = self.name(rest[0]), rest[1]  # a time, or for "together" a room
        if kind == "same_room":
            return f"{who} was in the same room as {piece}{self.at(where)}"
        if kind == "together":
            return f"{who} and {piece} were {self.room(where)} together at least once"
        return f"{who} was in the room just {rest[2]} of {piece}{self.at(where)}"  # beside

    def question(self, expr: tuple, who: bool = False) -> tuple[str, str]:
        """A bonus question about the piece or motive in `expr`, and the word its answer line asks for. A motive is
        asked for ("What motivates X?"), or with `who` its suspect ("Who is motivated by M?")."""
        if expr[0] == "at":
            _, subject, t, _ = expr
            return f"Where was {self.name(subject)}{self.at(t)}?", "ROOM"
        _, suspect, motive = expr
        if who:
            return f"Who is motivated by {self.night.motives[motive]}?", "SUSPECT"
        return f"What motivates {self.night.suspects[suspect]}?", "MOTIVE"


# --- The CP-SAT model ----------------------------------------------------------------------------------------------

class Model:
    """The rules of a night of this size as a CP-SAT model, with a reified literal for any expression: the literal is
    true exactly when the expression is. Clues are added as assumptions, so one model serves every solve."""

    def __init__(self, night: Night):
        from ortools.sat.python import cp_model

        self.cp, self.night = cp_model, night
        self.model = model = cp_model.CpModel()
        self._cache = {}
        n_times, rooms = len(night.times), range(len(night.rooms))
        self.x = {p: [[model.new_bool_var("") for r in rooms] for t in range(n_times)] for p in night.pieces}
        for grid in self.x.values():
            for row in grid:
                model.add_exactly_one(row)
        suspects = [p for p in night.pieces if p[0] == "suspect"]
        self.killer = self._one_of(len(night.suspects))
        self.weapon = self._one_of(len(night.weapons))
        self.room = self._one_of(len(night.rooms))
        self.time = self._one_of(n_times)
        self.motive = [self._one_of(len(night.motives)) for _ in night.suspects]
        for m in range(len(night.motives)):  # the number of suspects with each motive is given in the prompt
            model.add(sum(row[m] for row in self.motive) == night.motive.count(m))

        for p, grid in self.x.items():  # stay, or move to an adjacent room
            for t in range(1, n_times):
                for r in rooms:
                    model.add_bool_or([grid[t - 1][r].Not(), grid[t][r]] + [grid[t][n] for n in night.neighbours(r)])
                    if p[0] == "weapon":  # only with a suspect making the same move
                        for n in night.neighbours(r):
                            model.add_bool_or([grid[t - 1][r].Not(), grid[t][n].Not()]
                                              + [self.literal(("move", s, t, r, n)) for s in suspects])
        for t in range(n_times):  # the murder: killer and weapon there, no other suspect, Mr. Boddy from then on
            for r in rooms:
                scene = [self.room[r].Not(), self.time[t].Not()]
                model.add(sum(self.x[s][t][r] for s in suspects) <= 1).only_enforce_if([self.room[r], self.time[t]])
                for i, s in enumerate(suspects):
                    model.add_bool_or(scene + [self.killer[i].Not(), self.x[s][t][r]])
                for w in range(len(night.weapons)):
                    model.add_bool_or(scene + [self.weapon[w].Not(), self.x["weapon", w][t][r]])
                for later in range(t, n_times):
                    model.add_bool_or(scene + [self.x["boddy", 0][later][r]])

    def hint(self, night: Night) -> None:
        """Start each search from this night."""
        for p, grid in self.x.items():
            for t, row in enumerate(grid):
                for r, lit in enumerate(row):
                    self.model.add_hint(lit, night.where[p][t] == r)
        for row, value in [(self.killer, night.murderer), (self.weapon, night.weapon), (self.room, night.room),
                           (self.time, night.time)] + list(zip(self.motive, night.motive)):
            for i, lit in enumerate(row):
                self.model.add_hint(lit, i == value)

    def _one_of(self, count: int) -> list:
        row = [self.model.new_bool_var("") for _ in range(count)]
        self.model.add_exactly_one(row)
        return row

    def _all(self, literals: list):
        """A literal true exactly when all of `literals` are."""
        if len(literals) == 1:
            return literals[0]
        b = self.model.new_bool_var("")
        for lit in literals:
            self.model.add_implication(b, lit)
        self.model.add_bool_or([b] + [lit.Not() for lit in literals])
        return b

    def _any(self, literals: list):
        """A literal true exactly when any of `literals` is: not all of them false."""
        return self._all([lit.Not() for lit in literals]).Not()

    def _choices(self, subject: tuple) -> list[tuple]:
        """(piece, literals that make the subject that piece) for each piece the subject may stand for."""
        kind, index = subject
        if kind == "murderer":
            return [(("suspect", s), [self.killer[s]]) for s in range(len(self.night.suspects))]
        if kind == "murder weapon":
            return [(("weapon", w), [self.weapon[w]]) for w in range(len(self.night.weapons))]
        if kind == "motive":
            return [(("suspect", s), [self.motive[s][index]]) for s in range(len(self.night.suspects))]
        return [(subject, [])]

    def literal(self, expr: tuple):
        """A literal equivalent to the expression (built once, then cached)."""
        if expr not in self._cache:
            self._cache[expr] = self._build(expr)
        return self._cache[expr]

    def _build(self, expr: tuple):
        kind, x, n_times = expr[0], self.x, len(self.night.times)
        if kind in ("at", "move", "same_room", "together", "beside"):
            subject, terms = expr[1], []
            for p, chosen in self._choices(subject):
                if kind == "at":
                    terms.append(chosen + [x[p][expr[2]][expr[3]]])
                elif kind == "move":
                    _, _, t, a, b = expr
                    terms.append(chosen + [x[p][t - 1][a], x[p][t][b]])
                elif p != expr[2]:
                    q = expr[2]
                    if kind == "same_room":
                        t = expr[3]
                        places = [(t, r, r) for r in range(len(self.night.rooms))]
                    elif kind == "together":
                        places = [(t, expr[3], expr[3]) for t in range(n_times)]
                    else:
                        t = expr[3]
                        places = [(t, a, b) for a, b in self.night.pairs(expr[4])]
                    terms += [chosen + [x[p][t][a], x[q][t][b]] for t, a, b in places]
            return self._any([self._all(term) for term in terms])
        if kind == "carry":
            _, subject, weapon, t, a, b = expr
            return self._all([self.literal(("move", subject, t, a, b)), self.literal(("move", weapon, t, a, b))])
        if kind == "motive":
            return self.motive[expr[1]][expr[2]]
        if kind == "why":
            return self._any([self._all([self.killer[s], self.motive[s][expr[1]]])
                              for s in range(len(self.night.suspects))])
        if kind == "or":
            return self._any([self.literal(expr[1]), self.literal(expr[2])])
        if kind == "iff":
            b = self.model.new_bool_var("")
            first, second = self.literal(expr[1]), self.literal(expr[2])
            self.model.add(first == second).only_enforce_if(b)
            self.model.add(first != second).only_enforce_if(b.Not())
            return b
        return {"killer": self.killer, "weapon": self.weapon, "room": self.room, "time": self.time}[kind][expr[1]]

    def solve(self, assumptions: list, seed: int):
        """(status name, the night found or None, the indices of the assumptions in an unsatisfiable core)."""
        self.model.clear_assumptions()
        self.model.add_assumptions(assumptions)
        solver = self.cp.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = seed
        solver.parameters.max_deterministic_time = SOLVE_LIMIT
        # Presolve, probing, symmetry detection and LP relaxations cost 30 times more than the search on these
        # models, which are clauses that propagation settles quickly. (With probing off, OR-Tools 9.15's core can
        # leave out an assumption it needed: `make_clues` solves each core again before it takes it.)
        solver.parameters.cp_model_presolve = False
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.symmetry_level = 0
        solver.parameters.linearization_level = 0
        status = solver.status_name(solver.solve(self.model))
        if status == "INFEASIBLE":
            return status, None, set(solver.sufficient_assumptions_for_infeasibility())
        if status not in ("FEASIBLE", "OPTIMAL"):
            return status, None, set()
        return status, self._read(solver), set()

    def _read(self, solver) -> Night:
        night = self.night

        def index(row):
            return next(i for i, lit in enumerate(row) if solver.boolean_value(lit))

        where = {p: [index(row) for row in grid] for p, grid in self.x.items()}
        return Night(night.suspects, night.weapons, night.rooms, night.columns, night.times, night.motives,
                     [index(row) for row in self.motive], where, index(self.killer), index(self.weapon),
                     index(self.room), index(self.time))


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


# --- Prompts ------------------------------------------------------------------------------------------------------

def board(rooms: int, columns: int) -> str:
    """The grid of room numbers with the compass around it, as the public puzzles draw it."""
    width = 2 if rooms > 9 else 1
    cells = [f"{i + 1:0{width}d}" for i in range(rooms)]
    cells += ["-"] * (-rooms % columns)
    rows = ["W " + "|".join(cells[i:i + columns]) + " E" for i in range(0, len(cells), columns)]
    return "\n".join(["  " + " ".join(["N" * width] * columns) + "  ", *rows,
                      "  " + " ".join(["S" * width] * columns) + "  "])


def render(suspects: list[str], weapons: list[str], rooms: list[str], columns: int, times: list[str],
           motives: list[str], motive_counts: list[int] | None, clues: list[str], questions: list[str],
           bonus: list[str], answers: list[str]) -> str:
    """The prompt in the public puzzles' words and layout. `motive_counts` is None when motives are unique; with one
    time or one motive, those paragraphs are left out, as in the public puzzles."""
    def bullets(items):
        return "\n".join(f"• {item}" for item in items)

    width = 2 if len(rooms) > 9 else 1
    parts = [INTRO, bullets(suspects), "And the following weapons were found on the premises:", bullets(weapons),
             "The murder could only have occured in one of the following rooms:",
             "\n".join(f"{i:0{width}d}. {room}" for i, room in enumerate(rooms, start=1)),
             "The rooms are laid out as follows:", board(len(rooms), columns)]
    if len(times) > 1:
        parts += [TIMES_INTRO, bullets(times), MOVES]
    if len(motives) > 1:
        counts = [""] * len(motives) if motive_counts is None else \
            [f" ({n} suspect{'s' if n > 1 else ''})" for n in motive_counts]
        parts += [f"Each suspect {'uniquely ' if motive_counts is None else ''}had one of the following possible "
                  "motives for killing Mr. Boddy:", "\n".join(f"• {m}{n}" for m, n in zip(motives, counts))]
    parts += [RULE + (NIGHT if len(times) > 1 else "."), "The available clues are as follows:",
              "\n".join(f"- {clue}" for clue in clues),
              "Please answer the following question(s):", "\n".join(questions),
              "And the following bonus question(s):", "\n".join(bonus),
              "Fill out your final answers in the following format:", "\n".join(answers), "Best of luck, detective."]
    return "\n\n".join(parts)


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


def generate(count: int, seed: int = 0, start: int = 0) -> list[dict]:
    """Puzzles `start` to `start + count - 1` of the stream for `seed`."""
    return [puzzle(seed, i) for i in range(start, start + count)]


def load(path: str) -> list[dict]:
    """Puzzles in the public files' format: a JSON list of `{"num_clues", "prompt", "solution"}`, from one file, or
    from a folder's val.json and test.json (in that order, as OpenPipe split them)."""
    if os.path.isdir(path):
        files = [os.path.join(path, name) for name in ("val.json", "test.json")
                 if os.path.isfile(os.path.join(path, name))]
        if not files:
            raise RecipeError(f"no val.json or test.json of Temporal Clue puzzles in {path}")
        return [p for file in files for p in load(file)]
    if not os.path.isfile(path):
        raise RecipeError(f"no Temporal Clue puzzles at {path} (a JSON file, or a folder with val.json and test.json)")
    rows = read_json(path)
    if rows == []:
        raise RecipeError(f"{path}: no puzzles in the file")
    for i, row in enumerate(rows if isinstance(rows, list) else [None]):
        if not (isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("solution"), dict)
                and row["solution"]):
            raise RecipeError(f"{path}: puzzle {i} is not {{\"num_clues\", \"prompt\", \"solution\": {{\"A\": ...}}}}")
    return rows


def question_kinds(prompt: str) -> dict[str, str]:
    """{"A": "who", "B": "what", ..., "F": "bonus"}: each answer key's kind, read from the prompt's question lists
    (who, what, where, when, why; anything among the bonus questions is "bonus")."""
    kinds = {text: kind for kind, (text, _) in QUESTIONS.items()}
    found, section = {}, None
    for line in prompt.splitlines():
        if line.startswith("Please answer the following question"):
            section = "main"
        elif line.startswith("And the following bonus question"):
            section = "bonus"
        elif line.startswith("Fill out your final answers"):
            break
        elif section and line[1:3] == ". ":
            found[line[0]] = kinds.get(line[3:], "bonus") if section == "main" else "bonus"
    return found


def make_row(puzzle: dict) -> dict:
    """A dataset row: the prompt as the one user message (OpenPipe used no system prompt), the answers, and each
    answer key's question kind."""
    return {"prompt": [{"role": "user", "content": puzzle["prompt"]}], "solution": puzzle["solution"],
            "kinds": question_kinds(puzzle["prompt"]), "num_clues": puzzle.get("num_clues", 0),
            "question": puzzle["prompt"], "answer": json.dumps(puzzle["solution"])}


def main(argv: list[str] | None = None) -> int:
    """Make puzzles, print how long they took and their sizes, and save them in the public files' format."""
    parser = argparse.ArgumentParser(prog="python -m data.temporal_clue", description=main.__doc__)
    parser.add_argument("--count", type=int, default=100, help="how many puzzles (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the stream's seed (the recipe's: 2025)")
    parser.add_argument("--start", type=int, default=0, help="index of the first puzzle in the stream")
    parser.add_argument("--out", help="a JSON file to write them to, as `load` and --clue_test_dir read them")
    a = parser.parse_args(argv)
    if a.count < 1 or a.start < 0:
        parser.error("--count must be at least 1 and --start at least 0")
    if a.out and not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        parser.error(f"no folder for --out {a.out}")
    began = time.perf_counter()
    puzzles = generate(a.count, a.seed, a.start)
    took = time.perf_counter() - began
    clues = [p["num_clues"] for p in puzzles]
    answers = [len(p["solution"]) for p in puzzles]
    print(f"{a.count} puzzles (seed {a.seed}, from {a.start}) in {took:.1f} s on one core, {took / a.count:.2f} s "
          f"each; clues {min(clues)}-{max(clues)} (median {statistics.median(clues):g}), questions "
          f"{min(answers)}-{max(answers)}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(puzzles, f, indent=1)
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
