"""Tables for the GSM8K rewards, written from the published rules of systems A and B (not from the code).

Expected values are hand-computed; the comment beside each shows the arithmetic. Gold is "72" unless a case says so.
Every table runs twice, with plain-string and chat-style completions, which must score the same.
"""

import time

import pytest

from rewards.gsm8k import correctness_reward, custom_reward, extract_hash_answer


def words(n):
    """n words that NLTK's word_tokenize counts as exactly n tokens."""
    return " ".join(["w"] * n)


X20, X19 = "x" * 20, "x" * 19  # characters after a keyword: the x10 rule needs at least 20
ANS = "<answer>72</answer>"  # a right, all-digit answer: 5.0 + 0.5 = 5.5


@pytest.fixture(params=["plain", "chat"])
def score(request):
    """score(fn, text, gold) -> the reward of one completion, as a plain string or as a chat message."""

    def _score(fn, text, gold="72"):
        completion = text if request.param == "plain" else [{"role": "assistant", "content": text}]
        return fn(["question"], [completion], [gold])[0]

    return _score


# ---- extract_hash_answer: the gold answer after "####" --------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    pytest.param("Natalia sold 48 clips.\nShe sold 72 in all.\n#### 72", "72", id="after-hashes"),
    pytest.param("#### 1,080", "1080", id="thousands-separator"),
    pytest.param("#### 1,234,567", "1234567", id="two-separators"),
    pytest.param("It is 3.\n####   72  \n", "72", id="whitespace-stripped"),
    pytest.param("She sold 72 clips.", None, id="no-hashes"),
    pytest.param("", None, id="empty"),
])
def test_extract_hash_answer(text, expected):
    assert extract_hash_answer(text) == expected


# ---- A, step 2: +5 for the exact gold, +0.5 for all digits; the first <answer> wins -----------------------------

@pytest.mark.parametrize("text, gold, expected", [
    pytest.param(ANS, "72", 5.5, id="exact-digits"),  # 5.0 + 0.5
    pytest.param("<answer>\n 72 \n</answer>", "72", 5.5, id="stripped"),  # 5.0 + 0.5
    pytest.param("<answer>12</answer>", "13", 0.5, id="wrong-but-digits"),  # 0 + 0.5
    pytest.param("<answer>72.0</answer>", "72", 0.0, id="decimal-not-digits"),  # not exact, "72.0".isdigit() False
    pytest.param("<answer>-3</answer>", "-3", 5.0, id="exact-not-digits"),  # 5.0, "-3".isdigit() False
    pytest.param("<answer>The answer is 72</answer>", "72", 0.0, id="sentence"),
    pytest.param("<answer></answer>", "72", 0.0, id="empty-answer"),
    pytest.param("The answer is 72", "72", 0.0, id="no-tags"),
    pytest.param("<answer>72", "72", 0.0, id="no-closing-tag"),
    pytest.param("<answer>72</answer><answer>13</answer>", "72", 5.5, id="first-wins-right"),  # "72": 5.0 + 0.5
    pytest.param("<answer>13</answer><answer>72</answer>", "72", 0.5, id="first-wins-wrong"),  # "13": 0 + 0.5
])
def test_custom_reward_answer(score, text, gold, expected):
    assert score(custom_reward, text, gold) == pytest.approx(expected, abs=1e-9)


# ---- A, step 3: validate bonus 3 * (n - 5) / 251 for 5 <= n < 256 words, 3.0 from 256 ------------------------

@pytest.mark.parametrize("n, expected", [
    pytest.param(4, 0.0, id="n4"),
    pytest.param(5, 0.0, id="n5"),  # 3 * (5 - 5) / 251
    pytest.param(6, 0.01195219123505976, id="n6"),  # 3 * (6 - 5) / (256 - 5)
    pytest.param(255, 2.9880478087649402, id="n255"),  # 3 * (255 - 5) / (256 - 5)
    pytest.param(256, 3.0, id="n256"),
    pytest.param(400, 3.0, id="n400"),
])
def test_custom_reward_validate_bonus(score, n, expected):
    # no answer, so reward = 0 and 0 * 1.25 = 0: the total is the bonus alone
    assert score(custom_reward, f"<validate>{words(n)}</validate>") == pytest.approx(expected, abs=1e-9)


# ---- A, step 4: reasoning bonus 10 * (n - 5) / 1019 for 5 < n < 1024 words, 5.0 from 1024 (sic) -------------

@pytest.mark.parametrize("n, expected", [
    pytest.param(5, 0.0, id="n5"),
    pytest.param(6, 0.009813542688910697, id="n6"),  # 10 * (6 - 5) / (1024 - 5)
    pytest.param(1023, 9.99018645731109, id="n1023"),  # 10 * (1023 - 5) / (1024 - 5)
    pytest.param(1024, 5.0, id="n1024-drops-at-cap"),
    pytest.param(2000, 5.0, id="n2000"),
])
def test_custom_reward_reasoning_bonus(score, n, expected):
    assert score(custom_reward, f"<reasoning>{words(n)}</reasoning>") == pytest.approx(expected, abs=1e-9)


# ---- A, steps 3-5: x1.25 per tag pair present anywhere, even when nothing is extracted -------------------------

@pytest.mark.parametrize("text, expected", [
    pytest.param(ANS + "<validate></validate>", 6.875, id="validate"),  # 5.5 * 1.25
    pytest.param(ANS + "<reasoning></reasoning>", 6.875, id="reasoning"),  # 5.5 * 1.25
    pytest.param(ANS + "<reasoning></reasoning><validate></validate>", 8.59375, id="both"),  # 5.5 * 1.25 * 1.25
    pytest.param(ANS + "</validate> text <validate>", 6.875, id="validate-reversed"),  # 5.5 * 1.25, extracts ""
    pytest.param(ANS + "</reasoning> text <reasoning>", 6.875, id="reasoning-reversed"),  # 5.5 * 1.25
    pytest.param(ANS + "<validate> text", 5.5, id="validate-open-only"),
    pytest.param(ANS + "text </reasoning>", 5.5, id="reasoning-close-only"),
    pytest.param("<answer>12</answer><reasoning></reasoning><validate></validate>", 0.78125,
                 id="wrong-digits-both"),  # 0.5 * 1.25 * 1.25
    pytest.param(f"<reasoning>{words(105)}</reasoning><validate>{words(30)}</validate>{ANS}", 9.873909049767564,
                 id="all-parts"),  # 5.5 * 1.25 * 1.25 + 10 * (105 - 5) / 1019 + 3 * (30 - 5) / 251
])
def test_custom_reward_tag_multipliers(score, text, expected):
    assert score(custom_reward, text) == pytest.approx(expected, abs=1e-9)


# ---- A, step 6: x10 for wait / but / rethink anywhere in the validate text, with >= 20 characters after ----------

@pytest.mark.parametrize("text, expected", [
    pytest.param(f"{ANS}<validate>wait{X20}</validate>", 68.75, id="wait-20-after"),  # 5.5 * 1.25 * 10
    pytest.param(f"{ANS}<validate>wait{X19}</validate>", 6.875, id="wait-19-after"),  # 5.5 * 1.25
    pytest.param(f"{ANS}<validate>butter{'x' * 17}</validate>", 68.75, id="butter"),  # "ter" + 17 = 20 after "but"
    pytest.param(f"{ANS}<validate>butter{'x' * 16}</validate>", 6.875, id="butter-19-after"),
    pytest.param(f"{ANS}<validate>rethink{X20}</validate>", 68.75, id="rethink"),
    pytest.param(f"{ANS}<validate>xxWAIT{X20}</validate>", 68.75, id="upper-case-mid-word"),
    pytest.param(f"<validate>{X20}wait</validate>{ANS} and more than twenty characters", 6.875,
                 id="only-validate-text-counts"),  # nothing follows "wait" inside the validate text
    pytest.param(f"{ANS}<reasoning>wait{X20}</reasoning>", 6.875, id="keyword-in-reasoning"),
    pytest.param(f"{ANS}<validate>wait{X20}", 5.5, id="validate-not-closed"),
    pytest.param(f"{ANS} wait{X20}", 5.5, id="no-validate-tags"),
    pytest.param(f"<reasoning>{words(6)}</reasoning><validate>wait{X20}</validate>", 0.09813542688910698,
                 id="multiplies-bonuses"),  # 10 * (0 + 10 * (6 - 5) / 1019 + 0)
])
def test_custom_reward_times_ten(score, text, expected):
    assert score(custom_reward, text) == pytest.approx(expected, abs=1e-9)


# ---- B: 2.0 exact, 1.5 one equal number, else 0; the last <answer> to the next </answer> ---------------------

@pytest.mark.parametrize("text, gold, expected", [
    pytest.param(ANS, "72", 2.0, id="exact"),
    pytest.param("<reasoning>\n3 * 24\n</reasoning>\n<answer>\n72\n</answer>", "72", 2.0,
                 id="exact-in-prompted-format"),  # B's own format puts newlines inside the tags
    pytest.param("<answer>72.0</answer>", "72", 1.5, id="decimal"),
    pytest.param("<answer>$72</answer>", "72", 1.5, id="dollar"),
    pytest.param("<answer>The answer is 72</answer>", "72", 1.5, id="sentence"),
    pytest.param("<answer>1,080</answer>", "1080", 1.5, id="thousands-separator"),
    pytest.param("<answer>-5.0</answer>", "-5", 1.5, id="negative"),
    pytest.param("<answer>3 * 24 = 72</answer>", "72", 0.0, id="several-numbers"),
    pytest.param("<answer>73</answer>", "72", 0.0, id="wrong"),
    pytest.param("<answer>72.5</answer>", "72", 0.0, id="wrong-decimal"),
    pytest.param("<answer>72", "72", 0.0, id="no-closing-tag"),
    pytest.param("The answer is 72", "72", 0.0, id="no-tags"),
    pytest.param("<answer>...</answer>", "...", 0.0, id="ellipsis-is-no-answer"),
    pytest.param("<answer>13</answer><answer>72</answer>", "72", 2.0, id="last-wins-right"),
    pytest.param("<answer>72</answer><answer>13</answer>", "72", 0.0, id="last-wins-wrong"),
    pytest.param("<answer>72</answer><answer>72", "72", 0.0, id="last-not-closed"),
])
def test_correctness_reward(score, text, gold, expected):
    assert score(correctness_reward, text, gold) == pytest.approx(expected, abs=1e-9)


# ---- both: each completion against its own gold; junk never raises; no regex blow-up ----------------------------

@pytest.mark.parametrize("fn, expected", [
    pytest.param(custom_reward, [5.5, 5.5], id="custom"),  # the original compared both with gold[0]: [5.5, 0.5]
    pytest.param(correctness_reward, [2.0, 2.0], id="correctness"),
])
def test_each_completion_against_its_own_gold(fn, expected):
    assert fn(["q1", "q2"], ["<answer>72</answer>", "<answer>13</answer>"], ["72", "13"]) == pytest.approx(expected)


JUNK = [
    [{"role": "assistant", "content": None}],
    [],
    [{"role": "assistant"}],
    [{"role": "assistant", "content": 123}],
    42,
    None,
    "<answer>" + "x" * 1_000_000,
]


@pytest.mark.parametrize("fn", [custom_reward, correctness_reward])
def test_junk_scores_zero_without_raising(fn):
    rewards = fn(["q"] * len(JUNK), JUNK, ["72"] * len(JUNK))
    assert rewards == [0.0] * len(JUNK) and all(isinstance(r, float) for r in rewards)


SIZE = 64 * 1024
HEAVY = {
    "open-tags": "<answer><reasoning><validate>" * (SIZE // 29),
    "closed-tags": "<answer><reasoning><validate>" * (SIZE // 29) + "</validate></reasoning></answer>",
    "open-answer": "<answer>" * (SIZE // 8),
    "closed-answer": "<answer>" * (SIZE // 8) + "</answer>",
    "validate-wait": "<validate>wait" * (SIZE // 14),
    "validate-wait-closed": "<validate>wait" * (SIZE // 14) + "</validate>",
    "separators": "<answer>" + "1," * (SIZE // 2) + "</answer>",
    "long-number": "<answer>" + "1" * SIZE + "</answer>",  # int() refuses over 4300 digits
}


@pytest.mark.parametrize("fn", [custom_reward, correctness_reward])
@pytest.mark.parametrize("text", HEAVY.values(), ids=HEAVY.keys())
def test_64kb_completion_is_fast(fn, text):
    start = time.perf_counter()
    rewards = fn(["q"], [text], ["72"])
    assert time.perf_counter() - start < 1.0
    assert len(rewards) == 1 and isinstance(rewards[0], float)
