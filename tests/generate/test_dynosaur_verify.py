"""Dynosaur's semantic verification: its pure parts, and its plumbing behind the real door.

The backend below is a scripted fake (no model): it answers and scores in a way that depends on
whether the instruction explains the task, so the test checks that the verification stage keeps the
task that explains its mapping, drops the other with ``fails_verification``, records ``validity`` and
its parts, and costs nothing on a re-run (every call goes through the door's cache).
"""

from __future__ import annotations

import asyncio

from instructkit.generate.dynosaur import filter as F
from instructkit.generate.dynosaur.pipeline import DynosaurConfig, process_dataset
from instructkit.generate.dynosaur.verify import (NULL_INSTRUCTION, SIGNALS, VerifyConfig, held_rows, kind_mismatch,
                                                  names_label, rouge_l)
from instructkit.llm import LLM
from instructkit.llm.base import ChatRequest, Scored
from instructkit.llm.cache import ResponseCache
from instructkit.records import Example
from instructkit.sources.card import DatasetCard, Feature
from tests.scripted import ScriptedBackend, open_scripted

NEWS = DatasetCard(
    name="news", source="news", description="News headlines with their topic.",
    features=[Feature("text", "string"), Feature("label", "ClassLabel", label_names=["world", "sports"])],
    rows=[{"text": f"{'Cup final' if i % 2 else 'Summit talks'} story number {i}", "label": i % 2} for i in range(10)])
GOOD = "Classify the news headline by its topic."
BAD = "Summarize the story in one sentence."


class TopicAware(ScriptedBackend):
    """Knows the topic of a headline only when asked to classify it; logprobs follow the same rule."""

    def __init__(self):
        super().__init__(spec="fake-topic", identity={"fake": "topic"}, usage=(10, 2), reply=self._answer,
                         logprobs=self._logprobs)

    @staticmethod
    def _gold(user: str) -> str:
        return "sports" if "Cup final" in user else "world"

    def _answer(self, req: ChatRequest) -> str:
        user = req.messages[-1][1]
        return self._gold(user) if user.startswith("Classify") else "It is a story."

    def _logprobs(self, prompt, continuation: str) -> list[float]:
        user = prompt[-1]["content"]
        right = user.startswith("Classify") and continuation == self._gold(user)
        return [-0.2 if right else -1.5]

    @property
    def asked(self) -> int:
        """Chat and score calls that reached the model (the door's cache hits never do)."""
        return self.n_calls + len(self.scored)


def design(*instructions: str) -> str:
    import json

    return json.dumps({"tasks": [{"output_field": "label", "input_fields": ["text"], "instruction": i}
                                 for i in instructions]})


def DesignThenFake(reply: str, inner: LLM) -> LLM:
    """The task-design reply is scripted (behind a door of its own); the verification calls go to ``inner``."""
    return open_scripted(ScriptedBackend([reply], spec=inner.spec))


def test_rouge_l_and_label_matching():
    assert rouge_l("a single queen", "a single queen") == 1.0 and rouge_l("", "x") == 0.0
    assert 0 < rouge_l("the queen lays eggs", "a single queen") < 1
    assert names_label("Sports.", "sports", ["world", "sports"])
    assert names_label("The topic is world news", "world", ["world", "sports"])
    assert not names_label("world or sports", "world", ["world", "sports"])


def test_kind_mismatch_rules():
    assert kind_mismatch(BAD, "classification", ["world", "sports"])
    assert kind_mismatch("Write whether it is world or sports news.", "classification", ["world", "sports"]) is None
    assert kind_mismatch("Classify the passage.", "generation", None)
    assert kind_mismatch(GOOD, "classification", ["world", "sports"]) is None


def test_held_rows_skip_the_demonstrations_and_spread():
    exs = [Example(instruction="i", input=str(i), output="o", meta={"row": i}) for i in range(10)]
    rows = held_rows(exs, 3)
    assert len(rows) == 3 and all(r.meta["row"] >= 2 for r in rows)
    assert len({r.meta["row"] for r in rows}) == 3


def test_verification_keeps_the_task_that_explains_its_mapping_and_drops_the_other(tmp_path):
    backend = TopicAware()
    door = LLM(backend, cache=ResponseCache(tmp_path / "cache.sqlite"))
    cfg = DynosaurConfig(modes=("aware",), verification=VerifyConfig(rows=3, signals=SIGNALS))
    res = asyncio.run(process_dataset(DesignThenFake(design(GOOD, BAD), door), NEWS, cfg, verify_llm=door))
    assert [t.meta["proposed_instruction"] for t in res.tasks] == [GOOD]
    kept = res.tasks[0].meta["validity"]
    assert kept["passed"] and kept["score"] >= 0.5 and set(kept["parts"]) == {"kind", "likelihood", "answer"}
    assert kept["parts"]["answer"]["accuracy"] == 1.0 and kept["parts"]["likelihood"]["gain"] > 0
    assert len(kept["rows"]) == 3 and all(r >= 2 for r in kept["rows"])
    dropped = [r for r in res.rejections if r.reason == F.FAILS_VERIFICATION]
    assert len(dropped) == 1 and not dropped[0].details["validity"]["passed"]
    assert all(e.meta["task_id"] == res.tasks[0].id for e in res.instances)
    rec = res.record(NEWS)
    assert rec["tasks_verified"] == 2 and rec["tasks_failed_verification"] == 1
    assert rec["tasks_rejected"][F.FAILS_VERIFICATION] == 1
    # a re-run asks the backend nothing: every verification call is in the cache
    before = backend.asked
    again = asyncio.run(process_dataset(DesignThenFake(design(GOOD, BAD), door), NEWS, cfg, verify_llm=door))
    assert backend.asked == before and again.tasks[0].meta["validity"] == kept


def test_threshold_zero_records_scores_and_keeps_every_task(tmp_path):
    door = LLM(TopicAware(), cache=None)
    cfg = DynosaurConfig(modes=("aware",), verification=VerifyConfig(rows=2, threshold=0.0))  # default signals
    res = asyncio.run(process_dataset(DesignThenFake(design(GOOD, BAD), door), NEWS, cfg, verify_llm=door))
    assert len(res.tasks) == 2 and all("validity" in t.meta for t in res.tasks)
    scores = {t.meta["proposed_instruction"]: t.meta["validity"]["score"] for t in res.tasks}
    assert scores[GOOD] > scores[BAD] == 0.0  # the summarize-over-labels task is vetoed by the kind check


def test_null_instruction_keeps_the_label_sentence():
    from instructkit.generate.dynosaur.verify import _null_instruction
    from instructkit.records import Task

    t = Task(instruction="Classify the headline. Answers must be one of: world, sports.", input_fields=["text"],
             output_field="label", label_space=["world", "sports"], meta={"proposed_instruction": "Classify the headline"})
    assert _null_instruction(t) == f"{NULL_INSTRUCTION} Answers must be one of: world, sports."


def test_bad_verify_signals_exit_2(tmp_path, cli):
    r = cli("dynosaur", "examples/news_topics", "--out", tmp_path / "o", "--verify-signals", "vibes")
    assert r.returncode == 2 and "--verify-signals" in r.stderr and not (tmp_path / "o").exists()


class CannotScore(TopicAware):
    """A server whose echoed logprobs cannot be trusted: the door refuses ``score`` (UnsupportedError)."""

    async def score(self, prompt, continuation: str) -> Scored:
        from instructkit.errors import UnsupportedError

        raise UnsupportedError("echoed logprobs are shifted on this server")


def test_a_model_that_cannot_score_skips_the_likelihood_part_instead_of_failing_the_dataset(tmp_path):
    door = LLM(CannotScore(), cache=None)
    cfg = DynosaurConfig(modes=("aware",), verification=VerifyConfig(rows=2))  # default: likelihood + kind
    res = asyncio.run(process_dataset(DesignThenFake(design(GOOD, BAD), door), NEWS, cfg, verify_llm=door))
    assert res.status != "failed"
    assert [t.meta["proposed_instruction"] for t in res.tasks] == [GOOD]  # the kind veto still drops BAD
    parts = res.tasks[0].meta["validity"]["parts"]
    assert "cannot score" in parts["likelihood"]["skipped"] and parts["kind"]["match"]
    assert res.tasks[0].meta["validity"]["score"] == 0.5  # resting on the kind check alone
