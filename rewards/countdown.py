"""Countdown reward (TinyZero's task): given numbers and a target, write an equation that uses each number exactly
once and equals the target.

`countdown_reward` takes TRL's reward arguments (`prompts`, `completions`) and the dataset's `nums` and `target`
columns, and returns one float per completion, by TinyZero's rules (`verl/utils/reward_score/countdown.py` in
Jiayi-Pan/TinyZero): 0.0 without an answer; 1.0 when the answer uses each given number exactly once and is within
1e-5 of the target; otherwise its format score, 0.1: wrong numbers, a wrong value, an empty answer, `1 + 2 = 3` (an
"=" is not an equation), or anything else that does not evaluate.

What is read, as in TinyZero's scorer, which decodes the prompt and the reply together:
- The text after the first "Assistant:", or else after the first "<|im_start|>assistant". TinyZero's base-model prompt
  ends in "Assistant: Let me solve this step by step.\\n<think>", so there the cut falls in the prompt and an
  "Assistant:" the model writes is text like any other; its Qwen-instruct prompt has no "Assistant:", so a reply that
  writes one is read only from there on.
- Only the last line of that text. An answer followed by anything on a new line, even a trailing newline, scores 0.0,
  and so does an answer spread over lines.
- On that line, the last match of `<answer>(.*?)</answer>` as `re.finditer` finds them (left to right, each as
  short as it can be), stripped: `<answer> 1 <answer> 2 </answer>` reads "1 <answer> 2".

What we keep: unary + and - (Python's `eval` took them, and they reach no positive target that the four operations
cannot); spaces, tabs and form feeds between the parts; Python's integers, so `00` is 0 and `07` is not a number;
at most 200 nested parentheses, Python's own limit.

What we change, and why:
- No `eval`. TinyZero evaluates the text after a character filter (`^[\\d+\\-*/().\\s]+$`) that lets through more than
  the four operations of its prompt, so these are not equations here (0.1): `**` (`9**9**9**9` never returns), `//`
  (floor division rounds: `7 // 2` is 3) and decimal points (`2.5 * 4` with the numbers 2, 5 and 4 reaches 10, and
  TinyZero gives it 1.0, since it counts the digits on each side of the point as two numbers). A small parser reads
  integers, + - * /, parentheses and spaces in linear time with an explicit stack, checks the numbers before any
  arithmetic, and computes exactly with fractions.
- A prompt with neither "Assistant:" nor "<|im_start|>assistant" (a prompt of the user's own) makes TinyZero score
  every reply 0.0; here the last line is read all the same.
- Chat prompts are read as Qwen's chat template writes them (TinyZero decoded Qwen's tokens), whatever the model.

`countdown_whole_reply_reward` reads the reply as a person would: the last `<answer>…</answer>` anywhere in it, over
lines, with no cut at "Assistant:".
"""

import operator
import re
from collections import Counter
from fractions import Fraction

from rewards.text import completion_text, last_tag_match

FORMAT_SCORE = 0.1  # TinyZero's `format_score`: an answer that is not right
TOLERANCE = Fraction(1, 100_000)  # TinyZero's `abs(result - target) < 1e-5`, exactly (the float 1e-5 is a bit more)
MAX_NESTING = 200  # parentheses Python's parser nests, so TinyZero's `eval` evaluated no deeper
TURN_MARKS = ("Assistant:", "<|im_start|>assistant")  # where TinyZero's scorer starts reading, in this order

_EQUATION = re.compile(r"[0-9+\-*/() \t\f]*")  # Python's tokenizer separates tokens with space, tab and form feed
_TOKEN = re.compile(r"[0-9]+|[-+*/()]")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "pos": 3}
_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _prompt_text(prompt) -> str:
    """The prompt as TinyZero's scorer saw it before the reply: text as it is, chat messages in Qwen's chat template,
    ending in the assistant's turn (with its pre-filled start, if the last message is the assistant's)."""
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, (list, tuple)):
        return ""
    messages = [m for m in prompt if isinstance(m, dict)]
    prefilled = messages.pop() if messages and messages[-1].get("role") == "assistant" else {}
    turns = "".join(f"<|im_start|>{m.get('role')}\n{completion_text(m)}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n" + completion_text(prefilled)


def scored_line(prompt, completion) -> str:
    """The text TinyZero's scorer reads the answer from: the last line after its first turn mark (see above)."""
    text = _prompt_text(prompt) + completion_text(completion)
    for mark in TURN_MARKS:
        cut = text.find(mark)
        if cut >= 0:
            text = text[cut + len(mark):]
            break
    return text[text.rfind("\n") + 1:]


def equation_value(equation: str, nums) -> Fraction | None:
    """The exact value of `equation` if it is one (integers, + - * /, parentheses, spaces) that uses each of `nums`
    (integers) exactly once; None otherwise, or if it divides by zero."""
    if not _EQUATION.fullmatch(equation):
        return None
    tokens = _TOKEN.findall(equation)
    literals = [t for t in tokens if t[0].isdigit()]
    if any(t[0] == "0" and t.strip("0") for t in literals):  # 07: a leading zero is a syntax error in Python 3
        return None
    if Counter(t.lstrip("0") or "0" for t in literals) != Counter(str(n) for n in nums):
        return None  # checked before any arithmetic, so no number is larger than the given ones
    try:
        return _evaluate(tokens)
    except ZeroDivisionError:
        return None


def _apply(op: str, values: list[Fraction]) -> None:
    if op == "neg":
        values[-1] = -values[-1]
    elif op != "pos":
        right = values.pop()
        values[-1] = _BINARY[op](values[-1], right)


def _evaluate(tokens: list[str]) -> Fraction | None:
    """Operator precedence on two explicit stacks (shunting-yard): linear time, and no recursion to run out of."""
    values: list[Fraction] = []
    ops: list[str] = []
    depth = 0
    want_operand = True
    for token in tokens:
        if want_operand:
            if token.isdigit():
                values.append(Fraction(int(token)))
                want_operand = False
            elif token == "(":
                depth += 1
                if depth > MAX_NESTING:
                    return None
                ops.append(token)
            elif token in "+-":
                ops.append("neg" if token == "-" else "pos")
            else:  # "*", "/" or ")" where a number should be: also what `**` and `//` come to
                return None
        elif token == ")":
            while ops and ops[-1] != "(":
                _apply(ops.pop(), values)
            if not ops:
                return None
            ops.pop()
            depth -= 1
        elif token in "+-*/":
            while ops and ops[-1] != "(" and _PRECEDENCE[ops[-1]] >= _PRECEDENCE[token]:
                _apply(ops.pop(), values)
            ops.append(token)
            want_operand = True
        else:  # a number or "(" right after a number: `1 2`, `2(3)`
            return None
    if want_operand or "(" in ops:
        return None
    while ops:
        _apply(ops.pop(), values)
    return values[0]


def countdown_score(prompt, completion, nums, target, whole_reply: bool = False) -> float:
    """TinyZero's score for one completion (see `countdown_reward`); a row whose `nums` and `target` are not
    integers scores 0.0."""
    text = completion_text(completion) if whole_reply else scored_line(prompt, completion)
    equation = last_tag_match(text, "answer")
    if equation is None:
        return 0.0
    try:
        numbers, goal = [operator.index(n) for n in nums], operator.index(target)
    except TypeError:
        return 0.0
    value = equation_value(equation, numbers)
    return 1.0 if value is not None and abs(value - goal) < TOLERANCE else FORMAT_SCORE


def countdown_reward(prompts, completions, nums, target, **kwargs) -> list[float]:
    """TinyZero's Countdown reward: from the last <answer>…</answer> on the reply's last line, 1.0 if it uses each
    number of `nums` once and equals `target` (within 1e-5), else 0.1; 0.0 without an answer."""
    return [countdown_score(p, c, n, t) for p, c, n, t in zip(prompts, completions, nums, target)]


def countdown_whole_reply_reward(prompts, completions, nums, target, **kwargs) -> list[float]:
    """`countdown_reward` on the last <answer>…</answer> anywhere in the reply, over lines, with no cut at
    "Assistant:"."""
    return [countdown_score(p, c, n, t, whole_reply=True) for p, c, n, t in zip(prompts, completions, nums, target)]
