"""Temporal Clue data: each generated puzzle is read back from its prompt text into a CP-SAT model written here, apart
from the generator (integer positions instead of its booleans), and solved twice: its answers must be possible, and
no other answers may be. The public puzzles (read from ../shared/data when present, never copied) check the prompt's
wording, the reading of the rules and clues, and the mix of sizes."""

import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter

import pytest
from conftest import SHARED_DATA
from ortools.sat.python import cp_model

from data import temporal_clue as tc
from data import temporal_clue_night as clue_night
from data import temporal_clue_puzzles as clue_puzzles
from data import temporal_clue_text as clue_text
from recipes.errors import RecipeError

PUBLIC = SHARED_DATA / "temporal_clue"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def public() -> list[dict]:
    """OpenPipe's 64 + 64 public puzzles (MIT): read where they are, never copied into the project."""
    if not (PUBLIC / "val.json").is_file():
        pytest.skip(f"OpenPipe's Temporal Clue puzzles not found at {PUBLIC} (CI has ../shared beside the checkout; "
                    "clones do not)")
    return tc.load(str(PUBLIC))


@pytest.fixture(scope="module")
def generated() -> list[dict]:
    """24 puzzles of the public mix of sizes."""
    return tc.generate(24, seed=1)


# ---- reading a prompt back ---------------------------------------------------------------------------------------

def read(prompt: str) -> dict:
    """The prompt's parts: names, grid, times, motives, clue lines, question and answer-format lines."""
    paragraphs = prompt.split("\n\n")

    def after(header: str) -> list[str]:
        for i, paragraph in enumerate(paragraphs):
            if paragraph.startswith(header):
                return [line for line in paragraphs[i + 1].split("\n") if line]
        return []

    motives = after("Each suspect uniquely had one") or after("Each suspect had one")
    counts = [int(m.rsplit("(", 1)[1].split()[0]) for m in motives] if "Each suspect had one" in prompt else None
    board = after("The rooms are laid out as follows:")
    return dict(
        suspects=[s[2:] for s in after("On a dark winter night")],
        weapons=[w[2:] for w in after("And the following weapons")],
        rooms=[r.split(". ", 1)[1] for r in after("The murder could only have occured")],
        columns=board[1].count("|") + 1,
        times=[t[2:] for t in after("The exact time of the murder")],
        motives=[m[2:].split(" (")[0] for m in motives], motive_counts=counts,
        clues=[c[2:] for c in after("The available clues are as follows:")],
        questions=after("Please answer the following question(s):"),
        bonus=after("And the following bonus question(s):"),
        answers=after("Fill out your final answers in the following format:"))


class Checker:
    """A puzzle's rules and clues, read from its text, as a CP-SAT model of integer positions."""

    def __init__(self, prompt: str):
        self.p = p = read(prompt)
        self.m = m = cp_model.CpModel()
        self.times = p["times"] or ["12:00 AM"]
        rooms, times, suspects, weapons = len(p["rooms"]), range(len(self.times)), p["suspects"], p["weapons"]
        self.pos = {piece: [m.new_int_var(0, rooms - 1, "") for _ in times]
                    for piece in suspects + weapons + ["Mr. Boddy"]}
        self._eq = {}
        cells = {r: (r % p["columns"], r // p["columns"]) for r in range(rooms)}
        steps = [(a, b) for a in range(rooms) for b in range(rooms)
                 if abs(cells[a][0] - cells[b][0]) + abs(cells[a][1] - cells[b][1]) <= 1]
        self.just = {d: [(a, b) for a in range(rooms) for b in range(rooms)
                         if (cells[a][0] - cells[b][0], cells[a][1] - cells[b][1]) == step]
                     for d, step in {"north": (0, -1), "south": (0, 1), "east": (1, 0), "west": (-1, 0)}.items()}
        for piece, path in self.pos.items():
            for t in times[1:]:
                m.add_allowed_assignments([path[t - 1], path[t]], steps)
        for w in weapons:  # a weapon moves only along with a suspect who makes the same move
            for t in times[1:]:
                moved, carriers = m.new_bool_var(""), []
                m.add(self.pos[w][t - 1] != self.pos[w][t]).only_enforce_if(moved)
                m.add(self.pos[w][t - 1] == self.pos[w][t]).only_enforce_if(~moved)
                for s in suspects:
                    carrier = m.new_bool_var("")
                    m.add(self.pos[s][t - 1] == self.pos[w][t - 1]).only_enforce_if(carrier)
                    m.add(self.pos[s][t] == self.pos[w][t]).only_enforce_if(carrier)
                    carriers.append(carrier)
                m.add_bool_or(carriers).only_enforce_if(moved)
        n_motives = max(len(p["motives"]), 1)
        self.motive = {s: m.new_int_var(0, n_motives - 1, "") for s in suspects}
        if p["motive_counts"] is None and len(p["motives"]) > 1:
            m.add_all_different(list(self.motive.values()))
        for i, count in enumerate(p["motive_counts"] or []):
            m.add(sum(self.eq(self.motive[s], i) for s in suspects) == count)
        self.killer, self.weapon = m.new_int_var(0, len(suspects) - 1, ""), m.new_int_var(0, len(weapons) - 1, "")
        self.room, self.time = m.new_int_var(0, rooms - 1, ""), m.new_int_var(0, len(times) - 1, "")
        for t in times:
            for i, s in enumerate(suspects):
                m.add(self.pos[s][t] == self.room).only_enforce_if([self.eq(self.killer, i), self.eq(self.time, t)])
            for i, w in enumerate(weapons):
                m.add(self.pos[w][t] == self.room).only_enforce_if([self.eq(self.weapon, i), self.eq(self.time, t)])
            for r in range(rooms):
                m.add(sum(self.eq(self.pos[s][t], r) for s in suspects) <= 1).only_enforce_if(
                    [self.eq(self.time, t), self.eq(self.room, r)])
            for later in times[t:]:
                m.add(self.pos["Mr. Boddy"][later] == self.room).only_enforce_if(self.eq(self.time, t))
        for clue in p["clues"]:
            m.add(self.statement(clue) == 1)

    def eq(self, var, value: int):
        key = (var.index, value)
        if key not in self._eq:
            b = self._eq[key] = self.m.new_bool_var("")
            self.m.add(var == value).only_enforce_if(b)
            self.m.add(var != value).only_enforce_if(~b)
        return self._eq[key]

    def all(self, literals):
        b = self.m.new_bool_var("")
        self.m.add_bool_and(literals).only_enforce_if(b)
        self.m.add_bool_or([~x for x in literals]).only_enforce_if(~b)
        return b

    def any(self, literals):
        b = self.m.new_bool_var("")
        self.m.add_bool_or(literals).only_enforce_if(b)
        self.m.add_bool_and([~x for x in literals]).only_enforce_if(~b)
        return b

    def who(self, text: str) -> list[tuple[str, list]]:
        """What a subject may stand for: (piece, literals that make it that piece)."""
        text, p = text[0].upper() + text[1:], self.p
        if text in p["suspects"] or text == "Mr. Boddy":
            return [(text, [])]
        if text.startswith("The ") and text[4:] in p["weapons"]:
            return [(text[4:], [])]
        if text == "The murderer":
            return [(s, [self.eq(self.killer, i)]) for i, s in enumerate(p["suspects"])]
        if text == "The murder weapon":
            return [(w, [self.eq(self.weapon, i)]) for i, w in enumerate(p["weapons"])]
        motive = p["motives"].index(text.split(" suspect motivated by ")[1])
        return [(s, [self.eq(self.motive[s], motive)]) for s in p["suspects"]]

    def room_of(self, text: str) -> int:
        return self.p["rooms"].index(text.split("the ", 1)[1])

    def statement(self, text: str):
        for joiner in (" if and only if ", " or "):
            if joiner in text:
                first, second = (self.statement(part) for part in text.split(joiner))
                if joiner == " or ":
                    return self.any([first, second])
                b = self.m.new_bool_var("")
                self.m.add(first == second).only_enforce_if(b)
                self.m.add(first != second).only_enforce_if(~b)
                return b
        t = 0
        for i, label in enumerate(self.times):
            if text.endswith(f" at {label}"):
                text, t = text[:-len(f" at {label}")], i
        p, pos = self.p, self.pos
        if text.startswith("Mr. Boddy was killed with the "):
            return self.eq(self.weapon, p["weapons"].index(text.split(" the ", 1)[1]))
        if text == "Mr. Boddy was murdered":  # "... murdered at TIME", the time already cut off
            return self.eq(self.time, t)
        if text.startswith("Mr. Boddy was murdered by "):
            killers = self.who(text[len("Mr. Boddy was murdered by "):])
            return self.any([self.all([self.eq(self.killer, p["suspects"].index(s))] + c) for s, c in killers])
        if " is motivated by " in text:
            suspect, motive = text.split(" is motivated by ")
            return self.eq(self.motive[suspect], p["motives"].index(motive))
        if " moved " in text:  # "X moved [the W] from the A to the B"
            subject, rest = text.split(" moved ", 1)
            carried, rooms = rest.split("from the ")
            a, b = (p["rooms"].index(r) for r in rooms.split(" to the "))
            terms = [[*c, self.eq(pos[s][t - 1], a), self.eq(pos[s][t], b)] for s, c in self.who(subject)]
            if carried:
                terms = [x + [*c, self.eq(pos[w][t - 1], a), self.eq(pos[w][t], b)]
                         for x in terms for w, c in self.who(carried.strip())]
            return self.any([self.all(x) for x in terms])
        if " together" in text:  # "X and Y were in the R together at least once"
            pair, place = text.split(" were ")
            first, second = pair.split(" and ")
            room = self.room_of(place.split(" together")[0])
            (q, _), = self.who(second)
            return self.any([self.all([*c, self.eq(pos[s][u], room), self.eq(pos[q][u], room)])
                             for s, c in self.who(first) if s != q for u in range(len(self.times))])
        if " was in the same room as " in text:
            first, second = text.split(" was in the same room as ")
            (q, _), = self.who(second)
            terms = []
            for s, c in self.who(first):
                if s != q:
                    same = self.m.new_bool_var("")
                    self.m.add(pos[s][t] == pos[q][t]).only_enforce_if(same)
                    self.m.add(pos[s][t] != pos[q][t]).only_enforce_if(~same)
                    terms.append(self.all([*c, same]))
            return self.any(terms)
        if " was in the room just " in text:
            first, rest = text.split(" was in the room just ")
            direction, second = rest.split(" of ", 1)
            (q, _), = self.who(second)
            return self.any([self.all([*c, self.eq(pos[s][t], a), self.eq(pos[q][t], b)])
                             for s, c in self.who(first) for a, b in self.just[direction]])
        subject, place = re.split(" was (?=in the |at the )", text)
        room = self.room_of(place)
        return self.any([self.all([*c, self.eq(pos[s][t], room)]) for s, c in self.who(subject)])

    def answer(self, question: str, answer: str):
        """A literal true when the question's answer is `answer`."""
        p = self.p
        fixed = {"Who murdered Mr. Boddy?": (self.killer, p["suspects"]),
                 "What weapon did the murderer use?": (self.weapon, p["weapons"]),
                 "Where was the murder committed?": (self.room, p["rooms"]),
                 "When did the murder occur?": (self.time, self.times)}
        if question in fixed:
            var, names = fixed[question]
            return self.eq(var, names.index(answer))
        if question == "Why did the murderer do it?":
            return self.statement(f"Mr. Boddy was murdered by the suspect motivated by {answer}")
        if question.startswith("What motivates "):
            return self.statement(f"{question[len('What motivates '):-1]} is motivated by {answer}")
        if question.startswith("Who is motivated by "):
            return self.statement(f"{answer} is motivated by {question[len('Who is motivated by '):-1]}")
        subject, _, when = question[len("Where was "):-1].partition(" at ")
        preposition = "at" if answer == "Fountain" else "in"
        return self.statement(f"{subject} was {preposition} the {answer}" + (f" at {when}" if when else ""))

    def solve(self, *constraints) -> str:
        model = self.m.clone()
        for add in constraints:
            add(model)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 2
        solver.parameters.max_time_in_seconds = 60
        return solver.status_name(solver.solve(model))


def check(puzzle: dict) -> tuple[str, str]:
    """(status with the given answers, status with any other answers): ("OPTIMAL", "INFEASIBLE") when unique."""
    checker = Checker(puzzle["prompt"])
    lines = [q.split(". ", 1) for q in checker.p["questions"] + checker.p["bonus"]]
    truth = [checker.answer(text, puzzle["solution"][key]) for key, text in lines]
    return (checker.solve(lambda m: m.add_bool_and(truth)),
            checker.solve(lambda m: m.add_bool_or([~x for x in truth])))


# ---- generated puzzles -------------------------------------------------------------------------------------------

def test_every_generated_puzzle_has_its_answers_and_no_others(generated):
    for puzzle in generated:
        assert check(puzzle) == ("OPTIMAL", "INFEASIBLE"), puzzle["prompt"]


def test_the_checker_would_catch_a_puzzle_with_other_answers(generated):
    puzzle = max(generated, key=lambda p: p["num_clues"])
    lines = puzzle["prompt"].split("\n")
    clue_lines = [i for i, line in enumerate(lines) if line.startswith("- ")]
    fewer = {**puzzle, "prompt": "\n".join(line for i, line in enumerate(lines) if i not in clue_lines[1:])}
    assert check(fewer)[1] == "OPTIMAL"  # one clue left: other answers are possible
    wrong = {**puzzle, "solution": {**puzzle["solution"], "A": next(
        s for s in read(puzzle["prompt"])["suspects"] if s != puzzle["solution"]["A"])}}
    assert check(wrong)[0] == "INFEASIBLE"


def test_the_same_seed_gives_the_same_puzzles_and_each_index_stands_alone():
    first = tc.generate(6, seed=7)
    assert tc.generate(6, seed=7) == first
    code = "import json; from data import temporal_clue as tc; print(json.dumps(tc.generate(6, seed=7)))"
    for hash_seed in ("1", "2"):  # another process, with other string hashes
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert json.loads(done.stdout) == first
    assert tc.generate(2, seed=7, start=4) == first[4:]
    assert clue_puzzles.puzzle(7, 3) == first[3]
    assert tc.generate(6, seed=8) != first
    assert len({p["prompt"] for p in first}) == 6


def test_puzzles_have_the_public_format_and_consistent_sizes(generated):
    for puzzle in generated:
        assert set(puzzle) == {"num_clues", "prompt", "solution"}
        parts = read(puzzle["prompt"])
        assert puzzle["num_clues"] == len(parts["clues"]) == len(set(parts["clues"]))
        assert 2 <= len(parts["suspects"]) <= 10 and 2 <= len(parts["weapons"]) <= 8 and 2 <= len(parts["rooms"]) <= 17
        keys = [line[0] for line in parts["questions"] + parts["bonus"]]
        assert keys == list(puzzle["solution"]) == [a[0] for a in parts["answers"]] == clue_puzzles.letters(len(keys))
        assert len(keys) <= 8 and parts["questions"][0] == "A. Who murdered Mr. Boddy?"
        words = {"SUSPECT": parts["suspects"], "WEAPON": parts["weapons"], "ROOM": parts["rooms"],
                 "TIME": parts["times"], "MOTIVE": parts["motives"]}
        for line in parts["answers"]:  # each answer is one of the names its line asks for
            assert puzzle["solution"][line[0]] in words[line[3:]]
        assert clue_text.render(**parts) == puzzle["prompt"]


def test_command_line_saves_puzzles_that_load_reads_back(tmp_path):
    """`python -m data.temporal_clue` (its time is the generator's benchmark: the README gives the numbers) saves the
    stream's puzzles in the public files' format."""
    out = tmp_path / "puzzles.json"
    done = subprocess.run([sys.executable, "-m", "data.temporal_clue", "--count", "3", "--seed", "7", "--start", "2",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert re.match(r"3 puzzles \(seed 7, from 2\) in [\d.]+ s on one core", done.stdout)
    assert tc.load(str(out)) == tc.generate(3, seed=7, start=2)


@pytest.mark.parametrize("flags, message", [(["--count", "0"], "--count must be at least 1"),
                                            (["--out", "/no/such/folder/p.json"], "no folder for --out")])
def test_command_line_refuses_bad_input_in_one_line(flags, message):
    done = subprocess.run([sys.executable, "-m", "data.temporal_clue", *flags], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_times_are_a_quarter_half_or_whole_hour_apart_around_midnight():
    import random

    for seed in range(200):
        labels = clue_night.time_labels(1 + seed % 12, random.Random(seed))
        assert len(labels) == 1 + seed % 12 and "12:00 AM" in labels
        assert all(re.fullmatch(r"(0\d|1[0-2]):(00|15|30|45) (AM|PM)", label) for label in labels)


# ---- the public puzzles --------------------------------------------------------------------------------------------

def test_prompts_are_rendered_exactly_as_the_public_ones(public):
    for puzzle in public:
        assert clue_text.render(**read(puzzle["prompt"])) == puzzle["prompt"]


def test_our_reading_of_the_rules_fits_every_public_solution(public):
    """Each public puzzle's answers are consistent with its clues under the rules as we read them (OpenPipe's "or" was
    exclusive; ours, inclusive, allows more, so the public answers must pass)."""
    for puzzle in public[::4]:
        assert check(puzzle)[0] == "OPTIMAL", puzzle["prompt"]


def test_question_kinds_of_the_public_puzzles(public):
    kinds = Counter(kind for p in public for kind in tc.question_kinds(p["prompt"]).values())
    assert kinds == {"who": 127, "what": 95, "where": 128, "when": 67, "why": 104, "bonus": 339}
    assert all(list(tc.question_kinds(p["prompt"])) == list(p["solution"]) for p in public)


def test_the_size_draw_has_the_public_mix(public):
    """Mean counts within three standard errors of the 128 public puzzles' means."""
    import random

    ours = [clue_night.simulate(random.Random(f"mix-{i}")) for i in range(2000)]
    theirs = [read(p["prompt"]) for p in public]
    for name in ("suspects", "weapons", "rooms", "times", "motives"):
        counts = [max(len(p[name]), 1 if name == "times" else 0) for p in theirs]  # one time: no list
        mean = statistics.mean(len(getattr(n, name)) if name != "motives" or len(n.motives) > 1 else 0 for n in ours)
        assert abs(mean - statistics.mean(counts)) < 3 * statistics.stdev(counts) / len(counts) ** 0.5, name
    single = sum(len(n.times) == 1 for n in ours) / len(ours)
    assert 0.08 < single < 0.22  # public: 16 of 128


def test_the_clue_count_target_follows_the_public_puzzles(public):
    import random

    errors = []
    for puzzle in public:
        parts = read(puzzle["prompt"])
        night = clue_night.Night(parts["suspects"], parts["weapons"], parts["rooms"], 1,
                                 parts["times"] or ["12:00 AM"], [], [], {}, 0, 0, 0, 0)
        target = clue_puzzles.clue_target(night, random.Random(0))
        errors.append(abs(target - puzzle["num_clues"]) / puzzle["num_clues"])
    assert statistics.mean(errors) < 0.2


def clue_kind(clue: str) -> str:
    if clue.startswith(("Mr. Boddy was killed", "Mr. Boddy was murdered")) and " or " not in clue:
        return "murder"
    for marker, kind in ((" if and only if ", "iff"), (" or ", "or"), (" together", "together"),
                         (" in the same room as ", "same room"), (" room just ", "beside"), (" moved the ", "carry"),
                         (" moved from ", "move"), (" is motivated by ", "motive")):
        if marker in clue:
            return kind
    return "at"


def test_generated_clues_come_in_the_public_kinds(public, generated):
    ours = Counter(clue_kind(c) for p in generated for c in read(p["prompt"])["clues"])
    theirs = Counter(clue_kind(c) for p in public for c in read(p["prompt"])["clues"])
    assert set(ours) == set(theirs)
    for kind in theirs:  # shares within 6 points of the public ones
        assert abs(ours[kind] / ours.total() - theirs[kind] / theirs.total()) < 0.06, kind


# ---- loading -----------------------------------------------------------------------------------------------------

def test_load_reads_a_folder_or_one_file(public):
    assert len(public) == 128 and public[0]["prompt"].startswith("On a dark winter night")
    assert tc.load(str(PUBLIC / "test.json")) == public[64:]


@pytest.mark.parametrize("content, message", [
    ("not json", "puzzles.json, line 1: not JSON"),
    ('[{"prompt": "x",\n "solution": }]', "puzzles.json, line 2: not JSON"),
    ("", "puzzles.json: empty file"),
    ("[]", "puzzles.json: no puzzles in the file"),
    ('{"prompt": "x"}', "puzzle 0 is not"),
    ('[{"prompt": "x", "solution": {}}]', "puzzle 0 is not"),
    ('[{"prompt": "x", "solution": {"A": "Mrs. White"}}, {"solution": {"A": "x"}}]', "puzzle 1 is not"),
])
def test_load_refuses_bad_files_in_one_line(tmp_path, content, message):
    path = tmp_path / "puzzles.json"
    path.write_text(content)
    with pytest.raises(RecipeError, match=message) as error:
        tc.load(str(path))
    assert "\n" not in str(error.value)


def test_load_refuses_missing_paths(tmp_path):
    with pytest.raises(RecipeError, match="no Temporal Clue puzzles at"):
        tc.load(str(tmp_path / "nowhere.json"))
    with pytest.raises(RecipeError, match="no val.json or test.json"):
        tc.load(str(tmp_path))


def test_rows_carry_the_prompt_solution_and_question_kinds(generated):
    row = tc.make_row(generated[0])
    assert row["prompt"] == [{"role": "user", "content": generated[0]["prompt"]}]
    assert row["solution"] == generated[0]["solution"] and json.loads(row["answer"]) == row["solution"]
    assert row["kinds"]["A"] == "who" and set(row["kinds"]) == set(row["solution"])
