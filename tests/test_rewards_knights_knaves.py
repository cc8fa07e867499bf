"""Tables for the Knights and Knaves reward, written from Logic-RL's published rules, not from the code, except for
what part of a reply is read: its scorer reads what follows the first "Assistant:".

Total = format (+1, or -1) + answer (+2 all right, -1.5 wrong, -2 no format / no answer / unparsable). The puzzle is
Zoey (knight), Ella (knave), Henry (knight) unless a case says so. Each table's text is what follows the pre-filled
<think>, and every table runs three ways, which must score the same: a prompt rendered to text ending in <think> with
a plain-string completion, a chat prompt ending in an assistant "<think>" message with a chat completion, and a chat
prompt without pre-fill whose completion writes the <think> itself.
"""

import pytest

from linear_time import scored_in_a_fresh_python
from rewards.knights_knaves import kk_reward, kk_whole_reply_reward

NAMES = ["Zoey", "Ella", "Henry"]
SOLUTION = [True, False, True]
RIGHT = "(1) Zoey is a knight\n(2) Ella is a knave\n(3) Henry is a knight"
WRONG = "(1) Zoey is a knight\n(2) Ella is a knight\n(3) Henry is a knight"

CHAT = [{"role": "system", "content": "Think in <think> </think>, answer in <answer> </answer>."},
        {"role": "user", "content": "Who is a knight and who is a knave?"}]
RENDERED = ("<|im_start|>system\nThink in <think> </think>, answer in <answer> </answer>.<|im_end|>\n"
            "<|im_start|>user\nWho is a knight and who is a knave?<|im_end|>\n<|im_start|>assistant\n<think>")


def answer(inside: str) -> str:
    return f"Zoey tells the truth, so...</think>\n<answer>{inside}</answer>"


def kk(prompt, completion, names=NAMES, solution=SOLUTION, reward=kk_reward) -> float:
    return reward([prompt], [completion], [names], [solution])[0]


@pytest.fixture(params=["rendered-prompt", "chat-prefill", "chat-no-prefill"])
def score(request):
    """score(text, names, solution) -> the reward of the completion `text` that follows the pre-filled <think>."""

    def _score(text, names=NAMES, solution=SOLUTION, reward=kk_reward):
        if request.param == "rendered-prompt":
            return kk(RENDERED, text, names, solution, reward)
        if request.param == "chat-prefill":
            prompt = CHAT + [{"role": "assistant", "content": "<think>"}]
            return kk(prompt, [{"role": "assistant", "content": text}], names, solution, reward)
        return kk(CHAT, [{"role": "assistant", "content": "<think>" + text}], names, solution, reward)

    return _score


# ---- format: each of the four tags exactly once, in order; a failure costs -1 and forces the answer's -2 ----------

@pytest.mark.parametrize("text, expected", [
    pytest.param(answer(RIGHT), 3.0, id="well-formed-right"),  # +1 + 2
    pytest.param("reasoning</think><answer>" + RIGHT + "</answer> trailing words", 3.0, id="text-after-answer"),
    pytest.param("<think>again</think>" + answer(RIGHT), -3.0, id="second-think"),  # -1 - 2
    pytest.param("reasoning <answer>" + RIGHT + "</answer>", -3.0, id="no-closing-think"),
    pytest.param("reasoning</think><answer>" + RIGHT, -3.0, id="no-closing-answer"),
    pytest.param("reasoning</think>" + RIGHT + "</answer>", -3.0, id="no-opening-answer"),
    pytest.param("reasoning</think>" + RIGHT, -3.0, id="no-answer-tags"),
    pytest.param("a</think>b</think><answer>" + RIGHT + "</answer>", -3.0, id="closing-think-twice"),
    pytest.param(answer(RIGHT) + "</answer>", -3.0, id="closing-answer-twice"),
    pytest.param("<answer>" + RIGHT + "</answer>reasoning</think>", -3.0, id="answer-before-closing-think"),
    pytest.param("reasoning</think></answer>" + RIGHT + "<answer>", -3.0, id="answer-tags-reversed"),
    pytest.param("", -3.0, id="empty"),
])
def test_format(score, text, expected):
    assert score(text) == pytest.approx(expected)


# ---- answer: from the last <answer>; counts of "knight"/"knave" and one "Name is a knight/knave" per name --------

@pytest.mark.parametrize("inside, expected", [
    pytest.param(RIGHT, 3.0, id="all-right"),  # +1 + 2
    pytest.param(WRONG, -0.5, id="one-wrong"),  # +1 - 1.5
    pytest.param("(1) Zoey is a knave\n(2) Ella is a knight\n(3) Henry is a knave", -0.5, id="all-wrong"),
    pytest.param("Henry is a knight, Zoey is a knight and Ella is a knave.", 3.0, id="any-order-and-wording"),
    pytest.param("zoey IS A Knight; ELLA is a KNAVE; henry is a knight", 3.0, id="case-insensitive"),
    pytest.param("Zoey  is\n\ta knight, Ella is   a knave, Henry\nis a knight", 3.0, id="any-whitespace"),
    pytest.param("", -1.0, id="empty-answer"),  # +1 - 2
    pytest.param("  \n ", -1.0, id="blank-answer"),
    pytest.param("Zoey and Henry are knights, Ella is a knave", -1.0, id="two-role-words"),  # no "Zoey is a"
    pytest.param(RIGHT + "\nSo there are two knights.", -1.0, id="knights-counts-as-knight"),  # 4 substrings, not 3
    pytest.param("(1) Zoey is a knight\n(2) Ella is a knave", -1.0, id="a-person-missing"),  # 2 substrings
    pytest.param(RIGHT + "\n(4) Ella is a knave", -1.0, id="too-many-roles"),  # 4 substrings
    pytest.param("(1) Zoey is a knights\n(2) Ella is a knave\n(3) Henry is a knight", -1.0, id="plural-role"),
    pytest.param("(1) Zoey is not a knave\n(2) Ella is a knave\n(3) Henry is a knight", -1.0, id="is-not-a"),
    pytest.param("(1) Zoey is a knightly\n(2) Ella is a knave\n(3) Henry is a knight", -1.0, id="role-inside-word"),
    pytest.param("(1) Zoey is the knight\n(2) Ella is a knave\n(3) Henry is a knight", -1.0, id="not-is-a"),
    pytest.param("(1) Zoeya is a knight\n(2) Ella is a knave\n(3) Henry is a knight", -1.0, id="name-inside-word"),
    pytest.param("(1) Zoey is a knight\n(2) Bella is a knave\n(3) Henry is a knight", -1.0, id="name-ends-a-word"),
    pytest.param("(1) Zoey is a knight\n(2) Ella is a knave\n(3) Henry is a ... knight", -1.0, id="role-too-far"),
])
def test_answer(score, inside, expected):
    assert score(answer(inside)) == pytest.approx(expected)


def test_the_last_answer_tag_is_the_only_one_when_the_format_passes(score):
    # Two answers break "exactly once", so the last <answer> only ever decides a well-formed completion's score.
    assert score("x</think><answer>" + WRONG + "</answer><answer>" + RIGHT + "</answer>") == pytest.approx(-3.0)
    assert score("x</think><answer>" + RIGHT + "</answer><answer>" + WRONG + "</answer>") == pytest.approx(-3.0)


# ---- names and puzzle sizes --------------------------------------------------------------------------------------

def test_names_are_matched_literally(score):
    # Escaped: "Jo.e" must not match "Joxe", as the unescaped pattern would.
    names = ["Jo.e", "Ella", "Henry"]
    assert score(answer("(1) Joxe is a knight\n(2) Ella is a knave\n(3) Henry is a knight"), names) == -1.0
    assert score(answer("(1) Jo.e is a knight\n(2) Ella is a knave\n(3) Henry is a knight"), names) == 3.0


def test_a_name_inside_another_name():
    names, solution = ["Ann", "Anna", "Leo", "Leon", "Eli"], [True, False, False, True, True]
    right = "Ann is a knight, Anna is a knave, Leo is a knave, Leon is a knight, Eli is a knight"
    assert kk(RENDERED, answer(right), names, solution) == 3.0
    swapped = "Anna is a knight, Ann is a knave, Leo is a knave, Leon is a knight, Eli is a knight"
    assert kk(RENDERED, answer(swapped), names, solution) == -0.5
    missing_ann = "Anna is a knave, Anna is a knave, Leo is a knave, Leon is a knight, Eli is a knight"
    assert kk(RENDERED, answer(missing_ann), names, solution) == -1.0


@pytest.mark.parametrize("size", [3, 5, 8])
def test_sizes(size):
    names = ["Amelia", "Ben", "Chloe", "Dan", "Emma", "Finn", "Grace", "Hugo"][:size]
    solution = [i % 3 != 1 for i in range(size)]
    lines = "\n".join(f"({i}) {name} is a {'knight' if knight else 'knave'}"
                      for i, (name, knight) in enumerate(zip(names, solution), start=1))
    assert kk(RENDERED, answer(lines), names, solution) == 3.0
    flipped = lines.replace("knave", "KNAVE").replace("knight", "knave").replace("KNAVE", "knight")
    assert kk(RENDERED, answer(flipped), names, solution) == -0.5


# ---- what counts as the assistant's turn ------------------------------------------------------------------------

COMPLETION = answer(RIGHT)  # no opening <think>: it only passes when the prompt pre-fills one


@pytest.mark.parametrize("prompt, expected", [
    pytest.param(RENDERED, 3.0, id="text-prompt-ending-in-think"),
    pytest.param(RENDERED + "\n", 3.0, id="trailing-newline-after-think"),
    pytest.param(RENDERED[: -len("<think>")], -3.0, id="text-prompt-without-think"),  # the system prompt's don't count
    pytest.param(CHAT + [{"role": "assistant", "content": "<think>"}], 3.0, id="chat-prefill"),
    pytest.param(CHAT + [{"role": "assistant", "content": "<think>Let me see."}], 3.0, id="chat-prefill-with-text"),
    pytest.param(CHAT, -3.0, id="chat-ending-with-user"),
    pytest.param(CHAT + [{"role": "user", "content": "<think>"}], -3.0, id="chat-ending-with-user-think"),
    pytest.param(None, -3.0, id="no-prompt"),
    pytest.param([], -3.0, id="empty-chat-prompt"),
])
def test_prefilled_think(prompt, expected):
    assert kk(prompt, COMPLETION) == pytest.approx(expected)
    assert kk(prompt, [{"role": "assistant", "content": COMPLETION}]) == pytest.approx(expected)


def test_a_prefilled_think_and_a_written_one_are_two():
    assert kk(RENDERED, "<think>" + COMPLETION) == pytest.approx(-3.0)


# ---- a fake next turn: Logic-RL's scorer reads only what follows the first "Assistant:" ----------------------------

@pytest.mark.parametrize("text, logic_rl, whole_reply", [
    pytest.param(answer(RIGHT), 3.0, 3.0, id="no-fake-turn"),
    pytest.param(answer(RIGHT) + "\nHuman: Thanks!\nAssistant: You are welcome.", -3.0, 3.0,
                 id="right-answer-then-small-talk"),  # the cut leaves no tags
    pytest.param("I give up.\nHuman: Try again.\nAssistant: <think>" + answer(RIGHT), 3.0, -3.0,
                 id="fake-turn-answers"),  # the cut drops the first <think>; the whole reply has two
    pytest.param(answer(RIGHT) + "\nHuman: Sure?\nAssistant: <think>" + answer(WRONG), -0.5, -3.0,
                 id="fake-turn-changes-the-answer"),
    pytest.param("Zoey...</think>\n<answer>Assistant: " + RIGHT + "</answer>", -3.0, 3.0,
                 id="inside-the-answer"),  # the cut leaves no <answer>
    pytest.param("Assistant: " + answer(RIGHT), -3.0, 3.0, id="before-everything"),  # the pre-filled <think> is cut
    pytest.param("x Assistant: <think>" + answer(RIGHT) + " Assistant: more", 3.0, -3.0, id="the-first-one-cuts"),
    pytest.param(answer(RIGHT) + "\nassistant: bye", 3.0, 3.0, id="lower-case-does-not-cut"),
    pytest.param(answer(RIGHT) + "\nAssistant - bye", 3.0, 3.0, id="no-colon-does-not-cut"),
    pytest.param(answer(RIGHT) + "\n<|im_start|>assistant\n<think>" + answer(WRONG), -3.0, -3.0,
                 id="chat-header-does-not-cut"),  # only the prompt's header counts, and it is before the reply
])
def test_fake_assistant_turn(score, text, logic_rl, whole_reply):
    assert score(text) == pytest.approx(logic_rl)
    assert score(text, reward=kk_whole_reply_reward) == pytest.approx(whole_reply)


# ---- robustness: one float per completion, never an exception, linear time ----------------------------------------

@pytest.mark.parametrize("completion", [
    None, "", [], {}, [None], 42, [{"role": "assistant"}], [{"role": "assistant", "content": None}],
    [{"role": "assistant", "content": [{"type": "text", "text": "x"}]}], "\x00\ufffd<answer>", "</answer>" * 3,
    "Assistant:", "Assistant:" * 3,
], ids=repr)
def test_malformed_completions_score_minus_three(completion):
    assert kk(RENDERED, completion) == pytest.approx(-3.0)
    assert kk(RENDERED, completion, reward=kk_whole_reply_reward) == pytest.approx(-3.0)


def test_one_float_per_completion():
    completions = [COMPLETION, answer(WRONG), "junk", None]
    for reward in (kk_reward, kk_whole_reply_reward):
        scores = reward([RENDERED] * 4, completions, [NAMES] * 4, [SOLUTION] * 4)
        assert scores == [3.0, -0.5, -3.0, -3.0]
        assert all(type(s) is float for s in scores)


LONG = 128 * 1024

# (what fills 128 KB, Logic-RL's score, the whole reply's score)
COLLAPSE = [
    (("</think><answer>Zoey is a knight</answer>" * LONG)[:LONG], -3.0, -3.0),
    (("<think>" * LONG)[:LONG], -3.0, -3.0),
    (("<answer>" * LONG)[:LONG], -3.0, -3.0),
    (("Assistant:" * LONG)[:LONG], -3.0, -3.0),
    (("Assistant: <think>" * LONG)[:LONG], -3.0, -3.0),
    # the rest pass the format and the count, so the name search runs over 128 KB
    ("x</think><answer>" + "Zoey " * (LONG // 5) + RIGHT + "</answer>", 3.0, 3.0),
    ("x</think><answer>" + "Zoey is " * (LONG // 8) + RIGHT + "</answer>", 3.0, 3.0),
    ("x</think><answer>Zoey" + " " * LONG + "is a knight, Ella is a knave, Henry is a knight</answer>", 3.0, 3.0),
    ("x</think><answer>" + RIGHT.replace(" ", " " * (LONG // 10)) + "</answer>", 3.0, 3.0),
    ("Assistant: " * (LONG // 11) + "<think>x</think><answer>" + RIGHT + "</answer>", 3.0, -3.0),  # one cut
]


def test_128_kb_of_collapse_is_scored_in_linear_time():
    code = ("from rewards.knights_knaves import kk_reward, kk_whole_reply_reward\n"
            "prompt, names, solution = data['prompt'], data['names'], data['solution']\n"
            "chat = lambda t: [{'role': 'assistant', 'content': t}]\n"
            "print(json.dumps([[f([prompt] * 2, [t, chat(t)], [names] * 2, [solution] * 2)"
            " for f in (kk_reward, kk_whole_reply_reward)] for t in data['texts']]))")
    data = {"prompt": RENDERED, "names": NAMES, "solution": SOLUTION, "texts": [text for text, _, _ in COLLAPSE]}
    assert scored_in_a_fresh_python(code, data) == [[[ours] * 2, [whole] * 2] for _, ours, whole in COLLAPSE]
