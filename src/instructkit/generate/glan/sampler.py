"""Per-question concept draws for GLAN homework questions.

Every question gets its own draw from a generator seeded by (syllabus id, question index, run
seed): *single-session* (one session, 1-5 of its key concepts) or *two-session* (two sessions,
2-5 concepts from their union with at least one from each). Within a syllabus no two questions
share a draw: a draw equal to an earlier one is redrawn with the next attempt's seed, so the
draws for questions 0..n-1 are reproducible and the first n stay the same when n grows.

>>> sessions = [["atoms", "ions"], ["bonds", "lattices", "polarity"]]
>>> draws = draw_questions("syl-1", sessions, n=4, seed=0, two_session_ratio=0.5)
>>> len({d.key for d in draws}) == 4
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from instructkit.records import stable_hash

SINGLE = "single_session"
TWO = "two_session"
MAX_CONCEPTS = 5
MAX_ATTEMPTS = 64


@dataclass(frozen=True)
class Draw:
    """The sessions and key concepts one question must cover.

    ``sessions`` are 0-based indices into the syllabus, ascending; ``concepts`` are
    (session index, concept) pairs in syllabus order. ``requested`` is the strategy the coin
    asked for: it differs from ``strategy`` when a syllabus cannot support two sessions.
    """

    strategy: str
    sessions: tuple[int, ...]
    concepts: tuple[tuple[int, str], ...]
    requested: str = ""
    attempt: int = 0

    @property
    def key(self) -> tuple:
        """What makes two draws "the same" (strategy, sessions, concept set)."""
        return (self.strategy, self.sessions, tuple(sorted((s, c.lower()) for s, c in self.concepts)))

    @property
    def learned_up_to(self) -> int:
        """1-based number of the last session the student has learned (the latest one drawn)."""
        return max(self.sessions) + 1

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "requested": self.requested or self.strategy,
                "sessions": list(self.sessions), "concepts": [list(p) for p in self.concepts],
                "learned_up_to": self.learned_up_to, "attempt": self.attempt}


def question_seed(syllabus_id: str, index: int, seed: int, attempt: int = 0) -> int:
    """The seed of question ``index``'s draw (and of its generation call)."""
    return int(stable_hash("glan-draw", syllabus_id, int(index), int(seed), int(attempt), length=12), 16)


def _eligible(sessions: Sequence[Sequence[str]]) -> list[int]:
    return [i for i, cs in enumerate(sessions) if len(cs) > 0]


def draw_one(sessions: Sequence[Sequence[str]], rng: random.Random, requested: str,
             attempt: int = 0) -> Draw | None:
    """One draw of the ``requested`` strategy with ``rng``; None when no session has any concept.

    A two-session request on a syllabus with fewer than two usable sessions gives a
    single-session draw (``requested`` records what was asked).
    """
    eligible = _eligible(sessions)
    if not eligible:
        return None
    if requested == TWO and len(eligible) >= 2:
        a, b = sorted(rng.sample(eligible, 2))
        union = [(a, c) for c in sessions[a]] + [(b, c) for c in sessions[b]]
        k = rng.randint(2, min(MAX_CONCEPTS, len(union)))
        first = (a, rng.choice(list(sessions[a])))
        second = (b, rng.choice(list(sessions[b])))
        rest = [p for p in union if p not in (first, second)]
        chosen = {first, second, *rng.sample(rest, min(k - 2, len(rest)))}
        order = {p: i for i, p in enumerate(union)}
        return Draw(TWO, (a, b), tuple(sorted(chosen, key=order.__getitem__)), requested, attempt)
    s = rng.choice(eligible)
    concepts = list(sessions[s])
    k = rng.randint(1, min(MAX_CONCEPTS, len(concepts)))
    picked = sorted(rng.sample(range(len(concepts)), k))
    return Draw(SINGLE, (s,), tuple((s, concepts[i]) for i in picked), requested, attempt)


def draw_questions(syllabus_id: str, sessions: Sequence[Sequence[str]], n: int, seed: int,
                   two_session_ratio: float = 0.5) -> list[Draw | None]:
    """Draws for questions 0..n-1 of one syllabus, pairwise distinct.

    ``sessions`` is the key-concept list of each session. A question whose every attempt
    collides (the syllabus is too small for ``n`` distinct draws) gets None: the caller records
    it as a rejected item instead of asking a near-duplicate question.
    """
    if not 0.0 <= two_session_ratio <= 1.0:
        raise ValueError("two_session_ratio must be within [0, 1]")
    seen: set[tuple] = set()
    out: list[Draw | None] = []
    for i in range(n):
        # the strategy coin has its own generator, so redraws never shift the mix
        coin = random.Random(question_seed(syllabus_id, i, seed, -1)).random()
        requested = TWO if coin < two_session_ratio else SINGLE
        got = None
        # redraw within the requested strategy; when its draws are used up, try the other one
        for strategy, offset in ((requested, 0), (SINGLE if requested == TWO else TWO, MAX_ATTEMPTS)):
            for attempt in range(offset, offset + MAX_ATTEMPTS):
                d = draw_one(sessions, random.Random(question_seed(syllabus_id, i, seed, attempt)),
                             strategy, attempt)
                if d is None or d.key not in seen:
                    got = d
                    break
            if got is not None or d is None:
                break
        if got is not None and got.requested != requested:
            got = Draw(got.strategy, got.sessions, got.concepts, requested, got.attempt)
        if got is not None:
            seen.add(got.key)
        out.append(got)
    return out
