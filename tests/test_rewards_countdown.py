"""Tables for the Countdown reward, written from TinyZero's rules: 0.0 without an answer, 1.0 right, 0.1 otherwise;
the answer is the last <answer>…</answer> on the last line after the first "Assistant:" (else after
"<|im_start|>assistant"). Then hostile input, and agreement with TinyZero's own steps (`tinyzero_reference`, with
its `eval`) on thousands of generated replies.

The puzzle is 44, 19, 35 → 98 unless a case says so. Each table runs three ways, which must score the same unless a
column says otherwise: TinyZero's base-model prompt (text) with a text completion, its Instruct prompt as chat
messages with a chat completion, and that prompt rendered to text with a text completion.
"""

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tinyzero_reference import BASE, QWEN_INSTRUCT, tinyzero_score

from data.countdown import make_row
from rewards.countdown import countdown_reward, countdown_whole_reply_reward

NUMS, TARGET = [44, 19, 35], 98
RIGHT = "<answer> 44 + (19 + 35) </answer>"
WRONG = "<answer> 44 + 19 - 35 </answer>"


def prompt_for(kind: str, nums, target):
    if kind == "base":
        return make_row(nums, target)["prompt"]
    if kind == "instruct-chat":
        return make_row(nums, target, chat=True)["prompt"]
    return QWEN_INSTRUCT.format(numbers=nums, target=target)


def score(kind: str, text: str, nums=NUMS, target=TARGET, reward=countdown_reward) -> float:
    completion = [{"role": "assistant", "content": text}] if kind == "instruct-chat" else text
    return reward([prompt_for(kind, nums, target)], [completion], [nums], [target])[0]


KINDS = ["base", "instruct-chat", "instruct-rendered"]


# ---- the equation: 1.0 when it uses each number once and reaches the target, else 0.1 -----------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("equation, nums, target, expected", [
    pytest.param("44 + (19 + 35)", NUMS, TARGET, 1.0, id="right"),
    pytest.param("35+19+44", NUMS, TARGET, 1.0, id="any-order-no-spaces"),
    pytest.param("((44)) + ((19 + 35))", NUMS, TARGET, 1.0, id="extra-parentheses"),
    pytest.param("44\t+\t19\f+ 35", NUMS, TARGET, 1.0, id="tabs-and-form-feeds"),
    pytest.param("9 * (1 / 3)", [1, 3, 9], 3, 1.0, id="fraction-on-the-way"),
    pytest.param("4 * 4 + 2", [4, 4, 2], 18, 1.0, id="a-number-given-twice-used-twice"),
    pytest.param("-(-44 - 19 - 35)", NUMS, TARGET, 1.0, id="unary-minus"),
    pytest.param("44 - -19 - -35", NUMS, TARGET, 1.0, id="minus-minus"),
    pytest.param("+44 + + 19 + 35", NUMS, TARGET, 1.0, id="unary-plus"),
    pytest.param("1000001 / 1000000", [1000001, 1000000], 1, 1.0, id="within-1e-5"),
    pytest.param("100001 / 100000", [100001, 100000], 1, 0.1, id="exactly-1e-5-off"),
    pytest.param("00 + 98", [0, 98], 98, 1.0, id="00-is-zero"),
    pytest.param("(" * 200 + "44 + 19 + 35" + ")" * 200, NUMS, TARGET, 1.0, id="200-nested-parentheses"),
    pytest.param("44 + 19 - 35", NUMS, TARGET, 0.1, id="wrong-value"),
    pytest.param("44 + 19", NUMS, 63, 0.1, id="a-number-missing"),
    pytest.param("44 + 19 + 35 + 35 - 35", NUMS, TARGET, 0.1, id="a-number-twice"),
    pytest.param("4 * 2 + 2 * 5", [4, 4, 2], 18, 0.1, id="a-repeated-number-once-and-another"),
    pytest.param("44 + 19 + 36 - 1", NUMS, TARGET, 0.1, id="numbers-not-given"),
    pytest.param("", NUMS, TARGET, 0.1, id="empty-answer"),
    pytest.param("44 + 19 + 35 = 98", NUMS, TARGET, 0.1, id="with-equals"),
    pytest.param("forty-four plus 54", NUMS, TARGET, 0.1, id="words"),
    pytest.param("3 / (5 - 5)", [3, 5, 5], TARGET, 0.1, id="division-by-zero"),
    pytest.param("(44 + 19 + 35", NUMS, TARGET, 0.1, id="unclosed-parenthesis"),
    pytest.param("44 + 19 + 35)", NUMS, TARGET, 0.1, id="unopened-parenthesis"),
    pytest.param("()44 + 19 + 35", NUMS, TARGET, 0.1, id="empty-parentheses"),
    pytest.param("44 19 35", NUMS, TARGET, 0.1, id="no-operators"),
    pytest.param("44(19 + 35)", NUMS, 2376, 0.1, id="implicit-product"),
    pytest.param("44 + 19 + 35 +", NUMS, TARGET, 0.1, id="trailing-operator"),
    pytest.param("* 44 + 19 + 35", NUMS, TARGET, 0.1, id="leading-operator"),
    pytest.param("07 + 91", [7, 91], TARGET, 0.1, id="leading-zero"),
    pytest.param("44\u00a0+ 19 + 35", NUMS, TARGET, 0.1, id="non-ascii-space"),
    pytest.param("\u0664\u0664 + 19 + 35", NUMS, TARGET, 0.1, id="non-ascii-digits"),
    pytest.param("(" * 201 + "44 + 19 + 35" + ")" * 201, NUMS, TARGET, 0.1, id="201-nested-parentheses"),
])
def test_equation(kind, equation, nums, target, expected):
    text = f"44 + 54 = 98, and 19 + 35 = 54.</think> <answer>{equation}</answer>"
    assert score(kind, text, nums, target) == expected
    assert tinyzero_score(prompt_for("instruct-rendered", nums, target) + text, nums, target) == expected


# ---- TinyZero's character filter lets these through to `eval`; here they are not equations --------------------------

@pytest.mark.parametrize("equation, nums, target", [
    pytest.param("2.5 * 4", [2, 5, 4], 10, id="decimal-point-joins-two-numbers"),
    pytest.param("44 + 19 + 35.", NUMS, TARGET, id="decimal-point"),
    pytest.param("197 // 2", [197, 2], TARGET, id="floor-division"),
    pytest.param("2 ** 3 + 90", [2, 3, 90], TARGET, id="power"),
])
def test_what_tinyzero_evaluated_is_not_an_equation(equation, nums, target):
    text = f"<answer>{equation}</answer>"
    assert tinyzero_score(BASE.format(numbers=nums, target=target) + text, nums, target) == 1.0
    assert score("base", text, nums, target) == 0.1


# ---- what is read: the last line after the first turn mark; the whole-reply reward reads every line -----------------

@pytest.mark.parametrize("text, base, instruct, whole", [
    pytest.param("reasoning</think>\n" + RIGHT, 1.0, 1.0, 1.0, id="answer-on-the-last-line"),
    pytest.param("reasoning</think>\n" + RIGHT + " Done.", 1.0, 1.0, 1.0, id="text-after-it-on-that-line"),
    pytest.param(RIGHT + "\n", 0.0, 0.0, 1.0, id="trailing-newline"),
    pytest.param(RIGHT + "\nHope this helps.", 0.0, 0.0, 1.0, id="a-line-after-it"),
    pytest.param("<answer>\n44 + (19 + 35)\n</answer>", 0.0, 0.0, 1.0, id="answer-over-lines"),
    pytest.param(WRONG + "\n" + RIGHT, 1.0, 1.0, 1.0, id="wrong-then-right-below"),
    pytest.param(RIGHT + "\n" + WRONG, 0.1, 0.1, 0.1, id="right-then-wrong-below"),
    pytest.param(WRONG + " " + RIGHT, 1.0, 1.0, 1.0, id="wrong-then-right-on-one-line"),
    pytest.param(RIGHT + " " + WRONG, 0.1, 0.1, 0.1, id="right-then-wrong-on-one-line"),
    pytest.param("<answer> 1 " + RIGHT, 0.1, 0.1, 0.1, id="an-opening-tag-inside"),  # reads "1 <answer> 44 + ..."
    pytest.param(RIGHT + " <answer> oops", 1.0, 1.0, 1.0, id="unclosed-tag-after-it"),
    pytest.param("<answer> 44 + (19 + 35)", 0.0, 0.0, 0.0, id="no-closing-tag"),
    pytest.param("44 + (19 + 35) </answer>", 0.0, 0.0, 0.0, id="no-opening-tag"),
    pytest.param("</answer> 44 + (19 + 35) <answer>", 0.0, 0.0, 0.0, id="tags-reversed"),
    pytest.param("44 + (19 + 35)", 0.0, 0.0, 0.0, id="no-tags"),
    pytest.param("", 0.0, 0.0, 0.0, id="empty"),
    # The base prompt holds TinyZero's "Assistant:", so a reply's own is text; the Instruct prompt has none, so the
    # reply's first one starts what is read.
    pytest.param(RIGHT + " Assistant:", 1.0, 0.0, 1.0, id="assistant-after-the-answer"),
    pytest.param("Human: thanks\nAssistant: " + RIGHT, 1.0, 1.0, 1.0, id="assistant-before-the-answer"),
    pytest.param(WRONG + " Assistant: " + RIGHT, 1.0, 1.0, 1.0, id="assistant-between-answers"),
])
def test_what_is_read(text, base, instruct, whole):
    assert score("base", text) == base
    assert score("instruct-chat", text) == instruct
    assert score("instruct-rendered", text) == instruct
    for kind in KINDS:
        assert score(kind, text, reward=countdown_whole_reply_reward) == whole
    assert tinyzero_score(BASE.format(numbers=NUMS, target=TARGET) + text, NUMS, TARGET) == base
    assert tinyzero_score(QWEN_INSTRUCT.format(numbers=NUMS, target=TARGET) + text, NUMS, TARGET) == instruct


def test_a_prompt_without_a_turn_mark_is_read_all_the_same():
    prompt = "Use 44, 19 and 35 once each to make 98. Answer in <answer> </answer> tags."
    assert countdown_reward([prompt], [RIGHT], [NUMS], [TARGET]) == [1.0]
    assert tinyzero_score(prompt + RIGHT, NUMS, TARGET) == 0.0  # TinyZero's 0 for every reply to such a prompt


def test_chat_prompts_are_read_as_qwen_writes_them():
    """A system message's "Assistant:" is where TinyZero's cut falls, so a reply's own is text again."""
    prompt = make_row(NUMS, TARGET, chat=True)["prompt"]
    prompt[0] = {"role": "system", "content": "Reply as 'Assistant:'."}
    assert countdown_reward([prompt], [RIGHT + " Assistant:"], [NUMS], [TARGET]) == [1.0]


def test_one_float_per_completion_and_never_raises():
    prompt = make_row(NUMS, TARGET)["prompt"]
    completions = [RIGHT, None, 42, {"role": "assistant", "content": RIGHT}, [{"content": WRONG}], RIGHT, RIGHT]
    nums = [NUMS, NUMS, NUMS, NUMS, NUMS, None, [44.0, 19, 35]]
    targets = [TARGET, TARGET, TARGET, TARGET, TARGET, TARGET, "98"]
    assert countdown_reward([prompt] * 7, completions, nums, targets) == [1.0, 0.0, 0.0, 1.0, 0.1, 0.0, 0.0]
    assert countdown_reward([None], [RIGHT], [NUMS], [TARGET]) == [1.0]


# ---- hostile input: what a model in collapse writes is scored in linear time --------------------------------------

HOSTILE = [  # (completion, nums, target, countdown_reward, countdown_whole_reply_reward)
    ("<answer> 9**9**9**9 </answer>", [9, 9, 9, 9], TARGET, 0.1, 0.1),
    ("<answer>" + "(" * 10_000 + "44 + 19 + 35" + ")" * 10_000 + "</answer>", NUMS, TARGET, 0.1, 0.1),
    ("<answer>" + "(" * 100_000 + "</answer>", NUMS, TARGET, 0.1, 0.1),
    ("<answer> " + "-" * 100_000 + "(44 + 19 + 35) </answer>", NUMS, TARGET, 1.0, 1.0),
    ("<answer>" * 2_000, NUMS, TARGET, 0.0, 0.0),
    ("<answer>" * 12_000 + "</answer>", NUMS, TARGET, 0.1, 0.1),
    ("<answer>1</answer>" * 1_000, NUMS, TARGET, 0.1, 0.1),
    ("<answer>" + "</answer><answer>" * 6_000 + "</answer>" + RIGHT, NUMS, TARGET, 1.0, 1.0),
    ("<answer> " + "9" * 5_000 + " </answer>", NUMS, TARGET, 0.1, 0.1),
    ("<answer> " + "1+" * 50_000 + "1 </answer>", NUMS, TARGET, 0.1, 0.1),
    ("Assistant:" * 10_000 + RIGHT, NUMS, TARGET, 1.0, 1.0),
    ("<think>\n" * 12_000 + RIGHT, NUMS, TARGET, 1.0, 1.0),
    (RIGHT + "\n" * 100_000, NUMS, TARGET, 0.0, 1.0),
]

SCORE_HOSTILE = """
from data.countdown import make_row
from rewards.countdown import countdown_reward, countdown_whole_reply_reward
print(json.dumps([[reward([make_row(n, t)["prompt"]], [c], [n], [t])[0]
                   for reward in (countdown_reward, countdown_whole_reply_reward)] for c, n, t in data]))
"""


def test_hostile_input_is_scored_and_finishes():
    """In a fresh Python with a generous time limit: a linear scorer needs well under a second for all of these, so
    the limit never flakes, and `9**9**9**9` evaluated, or a quadratic scan, would run far past it."""
    data = [case[:3] for case in HOSTILE]
    try:
        done = subprocess.run([sys.executable, "-c", "import json, sys; data = json.load(sys.stdin)" + SCORE_HOSTILE],
                              input=json.dumps(data), cwd=Path(__file__).resolve().parents[1], capture_output=True,
                              text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("still scoring hostile input after 120 s: not linear time")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[ours, whole] for *_, ours, whole in HOSTILE]


# ---- agreement with TinyZero's own steps on generated replies --------------------------------------------------------

THOUGHTS = ["", "Let me try 44 + 19 = 63.\n", "First 19 * 2 = 38, no.\nThen (35 - 19) = 16.\n", "Maybe 98 / 2.\n"]
LAYOUTS = [
    "{think}</think>\n<answer>{eq}</answer>",
    "{think}</think>\n<answer> {eq} </answer>\n",
    "{think}</think> <answer>{eq}</answer> and that is it",
    "{think}</think> <answer>{eq}</answer>\nThat is it.",
    "<answer>{other}</answer> <answer>{eq}</answer>",
    "<answer>{eq}</answer> <answer>{other}</answer>",
    "<answer>{other}</answer>\n<answer>{eq}</answer>",
    "<answer>\n{eq}\n</answer>",
    "{think}Assistant: <answer>{eq}</answer>",
    "<answer>{eq}</answer> Assistant: ok",
    "<answer>{eq} = {target}</answer>",
    "{think}<answer>{eq}",
    "{think}no answer here",
    "<answer></answer>",
    "<answer> 1 <answer>{eq}</answer>",
]


def random_equation(rng: random.Random, numbers: list[int]) -> str:
    """A random expression over `numbers`: + - * /, unary minus, some parentheses, random spacing; never `**`."""
    items = [("-" if rng.random() < 0.08 else "") + str(n) for n in rng.sample(numbers, len(numbers))]
    while len(items) > 1:
        i = rng.randrange(len(items) - 1)
        space = rng.choice(["", " ", " ", "\t"])
        joined = f"{items[i]}{space}{rng.choice('+-*/')}{space}{items[i + 1]}"
        items[i:i + 2] = [f"({joined})" if rng.random() < 0.6 else joined]
    return f"-({items[0]})" if rng.random() < 0.05 else items[0]


def generated_cases(count: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(count):
        nums = [rng.randint(1, 99) for _ in range(rng.choice((3, 4)))]
        used = list(nums)
        change = rng.random()
        if change < 0.1:
            used.pop()
        elif change < 0.2:
            used.append(rng.randint(1, 99))
        elif change < 0.25:
            used.append(used[0])
        equation = random_equation(rng, used)
        try:
            value = eval(equation, {"__builtins__": None}, {})  # a string made just above: integers and + - * /
        except ZeroDivisionError:
            value = None
        close = value is not None and abs(value - round(value)) < 1e-9
        target = round(value) if close and rng.random() < 0.8 else rng.randint(10, 100)
        layout = rng.choice(LAYOUTS)
        yield nums, target, layout.format(think=rng.choice(THOUGHTS), eq=equation, other=random_equation(rng, used),
                                          target=target)


@pytest.mark.parametrize("kind, template", [("base", BASE), ("instruct-chat", QWEN_INSTRUCT)])
def test_agrees_with_tinyzero_on_generated_replies(kind, template):
    cases = list(generated_cases(3000))
    ours = [score(kind, text, nums, target) for nums, target, text in cases]
    theirs = [tinyzero_score(template.format(numbers=nums, target=target) + text, nums, target)
              for nums, target, text in cases]
    differ = [(case, a, b) for case, a, b in zip(cases, ours, theirs) if a != b]
    assert not differ, f"{len(differ)} differ, e.g. {differ[:3]}"
    spread = Counter(theirs)
    assert min(spread[0.0], spread[0.1], spread[1.0]) >= 300, spread  # every outcome is compared, many times
