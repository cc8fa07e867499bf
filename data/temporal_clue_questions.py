"""The questions of a Temporal Clue puzzle (`questions`): who, with what, where, when and why, and bonus questions
about the night ("Where was the Knife at 11:00 PM?"), each with its answer; and which facts of the murder are given
away as clues instead of asked."""

import random
from dataclasses import dataclass

from data.temporal_clue_night import Night
from data.temporal_clue_text import QUESTIONS, Text

# The public puzzles give the weapon (33 of 128) or the time (45 of the 112 with times) as a clue instead of asking
# it. Ours must give the time where nothing else tells it apart (one puzzle in three: the murderer, Mr. Boddy and the
# weapon often stay together for a while), the weapon rarely (1 in 100); these chances make up the rest. Bonus
# questions fill up to 8 questions, each kept 7 times in 10: OpenPipe dropped one when its answer was a needed clue,
# which left the public puzzles 1.3 fewer than 8 on average.
WEAPON_GIVEN, TIME_GIVEN, BONUS_KEPT = 0.25, 0.1, 0.7


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
