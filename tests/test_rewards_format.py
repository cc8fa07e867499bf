"""Table for system B's format reward, written from the published rules (not from the code):
0.2 for each of <reasoning>, </reasoning>, <answer>, </answer> present anywhere (max 0.8)."""

import time

import pytest

from rewards.format import single_answer_reward, tag_presence_reward


@pytest.mark.parametrize("chat", [False, True], ids=["plain", "chat"])
@pytest.mark.parametrize("text, expected", [
    pytest.param("The answer is 72", 0.0, id="none"),
    pytest.param("", 0.0, id="empty"),
    pytest.param("<reasoning>3 * 24", 0.2, id="one"),
    pytest.param("<reasoning>3 * 24</reasoning>", 0.4, id="two"),  # 0.2 * 2
    pytest.param("<reasoning>3 * 24</reasoning><answer>72", 0.6, id="three"),  # 0.2 * 3
    pytest.param("<reasoning>\n3 * 24\n</reasoning>\n<answer>\n72\n</answer>", 0.8, id="all-four"),  # 0.2 * 4
    pytest.param("</answer> 72 <answer> </reasoning> x <reasoning>", 0.8, id="any-order"),  # 0.2 * 4
    pytest.param("<answer><answer><answer>", 0.2, id="repeated-counts-once"),
    pytest.param("</answer></answer>", 0.2, id="closing-is-not-opening"),
    pytest.param("<reasoning></reasoning><answer>72</answer>" * 3, 0.8, id="repeated-all-max"),
    pytest.param("<validate>wait</validate><think></think>", 0.0, id="other-tags"),
])
def test_tag_presence_reward(text, expected, chat):
    completion = [{"role": "assistant", "content": text}] if chat else text
    assert tag_presence_reward(["question"], [completion]) == [pytest.approx(expected, abs=1e-9)]


def test_junk_scores_zero_without_raising():
    junk = [
        [{"role": "assistant", "content": None}],
        [],
        [{"role": "assistant"}],
        [{"role": "assistant", "content": 123}],
        42,
        None,
        "x" * 1_000_000,
    ]
    rewards = tag_presence_reward(["q"] * len(junk), junk)
    assert rewards == [0.0] * len(junk) and all(isinstance(r, float) for r in rewards)


SIZE = 64 * 1024


@pytest.mark.parametrize("text", [
    pytest.param("<answer><reasoning><validate>" * (SIZE // 29), id="open-tags"),
    pytest.param("<answer>" * (SIZE // 8), id="open-answer"),
    pytest.param("<validate>wait" * (SIZE // 14), id="validate-wait"),
])
def test_64kb_completion_is_fast(text):
    start = time.perf_counter()
    rewards = tag_presence_reward(["q"], [text])
    assert time.perf_counter() - start < 1.0
    assert len(rewards) == 1 and isinstance(rewards[0], float)


@pytest.mark.parametrize("text, expected", [
    ("3 + 4 = 7\n<answer>7</answer>", 1.0),
    ("<answer> -12 </answer>\n", 1.0),
    ("<answer>7</answer> and then more text", 0.5),
    ("<answer>7</answer><answer>7</answer>", 0.0),  # two answers
    ("<answer>seven</answer>", 0.0),
    ("<answer>7.5</answer>", 0.0),
    ("</answer>7<answer>", 0.0),  # tags in the wrong order
    ("7", 0.0),
], ids=["clean", "negative", "trailing-text", "two-answers", "words", "decimal", "reversed", "no-tags"])
def test_single_answer_reward(text, expected):
    assert single_answer_reward(None, [text, [{"role": "assistant", "content": text}]]) == [expected, expected]


def test_single_answer_reward_is_linear_on_collapsed_output():
    start = time.perf_counter()
    assert single_answer_reward(None, ["<answer>" * 8000, "<answer>1</answer>" * 4000]) == [0.0, 0.0]
    assert time.perf_counter() - start < 1.0
