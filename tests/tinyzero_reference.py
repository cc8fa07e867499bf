"""TinyZero's Countdown prompts and scorer, restated for comparison in tests only (Jiayi-Pan/TinyZero,
`examples/data_preprocess/countdown.py` and `verl/utils/reward_score/countdown.py`).

`tinyzero_score` takes TinyZero's steps in its order, `eval` included: it must only ever see strings that the tests
generate, which hold integers, + - * /, parentheses and spaces, never `**`.
"""

import re
import warnings

# TinyZero's `make_prefix` templates, word for word: `template_type="base"` and `"qwen-instruct"`.
BASE = ("A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The"
        " assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n"
        "User: Using the numbers {numbers}, create an equation that equals {target}. You can use basic arithmetic"
        " operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags."
        " And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\n"
        "Assistant: Let me solve this step by step.\n<think>")
QWEN_INSTRUCT = ("<|im_start|>system\nYou are a helpful assistant. You first thinks about the reasoning process in the"
                 " mind and then provides the user with the answer.<|im_end|>\n<|im_start|>user\n Using the numbers"
                 " {numbers}, create an equation that equals {target}. You can use basic arithmetic operations (+, -,"
                 " *, /) and each number can only be used once. Show your work in <think> </think> tags. And return"
                 " the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.<|im_end|>\n"
                 "<|im_start|>assistant\nLet me solve this step by step.\n<think>")


def tinyzero_score(solution_str: str, numbers: list[int], target: int) -> float:
    """TinyZero's `compute_score` on the decoded prompt and reply: the text after the first "Assistant:" (else the
    first "<|im_start|>assistant"; else 0), its last line, the last `<answer>(.*?)</answer>` there (else 0), then 0.1
    unless the `\\d+` runs are the given numbers and the filtered `eval` is within 1e-5 of the target (1.0)."""
    for mark in ("Assistant:", "<|im_start|>assistant"):
        if mark in solution_str:
            text = solution_str.split(mark, 1)[1]
            break
    else:
        return 0.0
    matches = list(re.finditer(r"<answer>(.*?)</answer>", text.split("\n")[-1]))
    if not matches:
        return 0.0
    equation = matches[-1].group(1).strip()
    try:
        if sorted(int(n) for n in re.findall(r"\d+", equation)) != sorted(numbers):
            return 0.1
        if not re.match(r"^[\d+\-*/().\s]+$", equation):
            return 0.1
        with warnings.catch_warnings():  # Python warns of `44(19 + 35)` while compiling it
            warnings.simplefilter("ignore", SyntaxWarning)
            return 1.0 if abs(eval(equation, {"__builtins__": None}, {}) - target) < 1e-5 else 0.1
    except Exception:
        return 0.1
