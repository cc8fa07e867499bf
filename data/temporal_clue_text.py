"""Temporal Clue prompts in the public puzzles' words: the clues and questions (`Text`) and the whole prompt (`render`),
its text, layout and answer-format block word for word."""

from data.temporal_clue_night import BODDY, Night

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
