"""Text helpers shared by the reward functions: every one runs in linear time and never raises.

Rewards see completions from a model that may be in collapse (16 KB of repeated tags, no closing tag, empty
output), so parsing is done with `str.find`, not with regexes that can backtrack.
"""

import re

from nltk.tokenize import word_tokenize


def completion_text(completion) -> str:
    """The text of one completion: TRL passes plain strings, or chat messages for conversational data."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        parts = [m.get("content") for m in completion if isinstance(m, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def first_tag(text: str, tag: str) -> str | None:
    """The stripped text inside the first `<tag>…</tag>`, as `re.search(r"<tag>(.*?)</tag>", re.DOTALL)` finds it."""
    return _inside(text, text.find(f"<{tag}>"), tag)


def last_tag(text: str, tag: str) -> str | None:
    """The stripped text between the last `<tag>` and the next `</tag>`; None if that closing tag is missing."""
    return _inside(text, text.rfind(f"<{tag}>"), tag)


def _inside(text: str, opening: int, tag: str) -> str | None:
    if opening < 0:
        return None
    start = opening + len(tag) + 2
    end = text.find(f"</{tag}>", start)
    return None if end < 0 else text[start:end].strip()


def has_tag_pair(text: str, tag: str) -> bool:
    """Both `<tag>` and `</tag>` appear somewhere, in any order."""
    return f"<{tag}>" in text and f"</{tag}>" in text


def word_count(text: str) -> int:
    """Words as NLTK's `word_tokenize` counts them; `preserve_line=True` skips the sentence splitter, which needs
    the `punkt_tab` download and gives the same tokens here."""
    return len(word_tokenize(text.lower(), preserve_line=True))


# A number as written: -12, 3.5, .5, 1,080 (groups of three after a comma). No nested quantifiers, so no
# backtracking blow-up on long runs of digits and commas.
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|-?\.\d+", re.ASCII)


def numbers_in(text: str) -> list[str]:
    """Every number in the text, as written: `-12`, `3.5`, `.5`, `1,080`."""
    return _NUMBER.findall(text)



def last_number(text: str) -> float | None:
    """The value of the last number in the text (thousands separators allowed), or None."""
    numbers = numbers_in(text)
    return float(numbers[-1].replace(",", "")) if numbers else None


def last_tag_match(text: str, tag: str) -> str | None:
    """The stripped text of the last match of `re.finditer(r"<tag>(.*?)</tag>", text, re.DOTALL)`: matches run left
    to right, each from an opening tag to the next closing one, so `<tag>1<tag>2</tag>` gives "1<tag>2". Found with
    `str.find`: that regex takes quadratic time on a run of opening tags with no closing one."""
    found, start = None, 0
    while (opening := text.find(f"<{tag}>", start)) >= 0:
        closing = text.find(f"</{tag}>", opening + len(tag) + 2)
        if closing < 0:
            break
        found, start = (opening + len(tag) + 2, closing), closing + len(tag) + 3
    return None if found is None else text[found[0]:found[1]].strip()
