"""Dynosaur: checks on an instruction's own text, beyond the paper's field rules (§1.3).

Each returns a reason string or None, so a dropped task lands in ``rejected.jsonl`` with why.
They catch what a small task designer does often: copy one of our worked demonstrations, loop on a
phrase, write a fragment that asks for nothing, or give the answer away in the instruction.

>>> instruction_problem("Predict predict predict predict predict predict the label.", [])
'degenerate_instruction'
>>> instruction_problem("Read the question. The answer is: 2.", [])
'leaks_answer'
>>> instruction_problem("Classify the news article into one of the topics.", []) is None
True
"""

from __future__ import annotations

import re
from collections import Counter

COPIES_DEMONSTRATION = "copies_demonstration"   # the instruction is one of our prompt's worked examples
DEGENERATE = "degenerate_instruction"           # too short, a phrase looping, or not a request
LEAKS_ANSWER = "leaks_answer"                   # the instruction states the output ("The answer is: 2.")
TRUNCATED_REPLY = "truncated_reply"             # parsed from a reply cut off at the token limit
REPLY_NOT_VALID = "reply_not_schema_valid"      # the reply broke the schema; tasks were salvaged from it
CHECK_REASONS = (COPIES_DEMONSTRATION, DEGENERATE, LEAKS_ANSWER, TRUNCATED_REPLY)

MIN_WORDS = 3
DEMO_OVERLAP = 0.6   # share of the instruction's word 3-grams found in one demonstration's instruction

# words that make a sentence a request: imperative task verbs and question openers
_REQUEST_WORDS = set("""
add answer ask assign categorize categorise check choose classify compare complete compose compute convert count
create decide define describe detect determine draft estimate evaluate explain extract fill find generate give
guess identify infer judge label list match name paraphrase pick predict produce provide rank rate read rephrase
reply respond rewrite say score select solve sort state suggest summarize summarise tag tell transform translate
write use make turn correct group highlight locate outline return recognize recognise spot mark assess calculate
derive formulate propose review simplify shorten expand continue design verify recommend convert
""".split())
_QUESTION_OPENERS = ("what", "which", "who", "whom", "where", "when", "why", "how", "is", "are", "does", "do",
                     "can", "should", "will", "was", "were", "did")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

# "the answer is 2", "output: 'yes'", "correct label = positive." at the end of a sentence
_LEAK = re.compile(
    r"\b(?:answer|output|label|result|solution)\s*(?:is|=|:|would be|should be|will be)\s*:?\s*"
    r"(?:\d[\d.,/:]*\b|[\"'“‘][^\"'”’]{1,60}[\"'”’]|[a-z0-9-]+\s*(?:[.!]\s*)?$)", re.I)
_LEAD = re.compile(r"^(?:answer|output|label|result|solution)\s*(?:is|would be|should be|will be)?\s*[=:]?\s*", re.I)
_LEAK_FORM_WORDS = {"one", "either", "a", "an", "the", "in", "written", "given", "short", "brief", "only",
                    "whether", "yes", "no", "true", "false"}


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def copies_demonstration(instruction: str, demo_instructions: list[str]) -> bool:
    """The instruction is (nearly) one of the demonstrations' instructions."""
    words = _words(instruction)
    mine = _grams(words, 3)
    for demo in demo_instructions:
        theirs = _words(demo)
        if words == theirs:
            return True
        if mine and len(mine & _grams(theirs, 3)) >= DEMO_OVERLAP * len(mine):
            return True
    return False


_LEADS = {"please", "then", "and", "now", "also", "first", "finally", "briefly", "carefully"}


def _has_task_verb(instruction: str) -> bool:
    """A clause that starts with a task verb ("Given X, classify it."), or "to <verb>" ("your job is to
    label..."): a request. Nouns do not count: "the text and its label" asks for nothing."""
    for clause in re.split(r"[,.;:!?\n]+", instruction.lower()):
        words = [w for w in _words(clause)]
        while words and words[0] in _LEADS:
            words = words[1:]
        if words and words[0] in _REQUEST_WORDS:
            return True
        if any(a == "to" and b in _REQUEST_WORDS for a, b in zip(words, words[1:])):
            return True
    return False


def degenerate(instruction: str) -> str | None:
    """Why the instruction is not a usable request (too short / repeats itself / asks nothing), or None."""
    words = _words(instruction)
    if len(words) < MIN_WORDS:
        return "too short"
    # a 3-word phrase three times is a loop ("of the review" twice is just English)
    top = Counter(tuple(words[i:i + 3]) for i in range(len(words) - 2)).most_common(1)
    if top and top[0][1] >= 3:
        return f"repeats {' '.join(top[0][0])!r} {top[0][1]} times"
    if len(words) >= 10 and len(set(words)) < 0.4 * len(words):
        return "the same few words over and over"
    if instruction.strip().endswith("?") or words[0] in _QUESTION_OPENERS or _has_task_verb(instruction):
        return None
    return "asks for nothing (no task verb, not a question)"


def leaks_answer(instruction: str) -> bool:
    """The instruction states a concrete output ("The answer is: 2.") instead of describing it."""
    for m in _LEAK.finditer(instruction):
        stated = _LEAD.sub("", m.group(0)).strip()
        if stated[:1] in "\"'“‘" or stated[:1].isdigit():
            return True  # a quoted value or a number
        tail = _words(stated)
        if tail and tail[0] not in _LEAK_FORM_WORDS:
            return True
    return False


def instruction_problem(instruction: str, demo_instructions: list[str]) -> str | None:
    """The first problem with the instruction's own text (a reason), or None."""
    if copies_demonstration(instruction, demo_instructions):
        return COPIES_DEMONSTRATION
    if degenerate(instruction):
        return DEGENERATE
    if leaks_answer(instruction):
        return LEAKS_ANSWER
    return None
