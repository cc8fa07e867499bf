"""Random clues about a Temporal Clue night (`data/temporal_clue_night.py`), true of it (`Clues.draw`) or false (to
pair with a true one in an "or" or an "if and only if"), for the puzzle generator (`data/temporal_clue_puzzles.py`).
A clue is an expression that `holds` reads."""

import random

from data.temporal_clue_night import DIRECTIONS, DIRECTIONS_OPPOSITE, Night, holds

# Clue kinds drawn while the answers are not yet unique, and their weights (tuned so that the finished puzzles have
# about the public set's mix of kinds).
CLUE_WEIGHTS = {"at": 7, "move": 5, "carry": 3, "same_room": 5, "together": 4.5, "beside": 7, "motive": 0.5, "or": 4,
                "iff": 4}


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
