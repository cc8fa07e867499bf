"""The night behind a Temporal Clue puzzle (`data/temporal_clue_puzzles.py` makes the puzzles): the names, the grid of
rooms, a random night that obeys the rules (`simulate`), and whether a clue or a question's answer is true of a night
(`holds`).

A puzzle is Cluedo as a one-player logic puzzle. Suspects, weapons and Mr. Boddy are in rooms laid out on a grid at
each of a few times of the night; from one time to the next a person stays or moves to an orthogonally adjacent
room, and a weapon moves only with a suspect who makes the same move. The murderer and Mr. Boddy were alone (no other
suspect) in a room with the murder weapon at the murder time, and Mr. Boddy stays in that room from then on. Each
suspect has a motive.
"""

import random
from dataclasses import dataclass

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
