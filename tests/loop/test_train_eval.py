"""train -> hf:DIR -> chat/score/eval on the real bundled model, with tiny budgets."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow

COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "pink", "brown"]
TRAIN_ARGS = ["--steps", "12", "--max-len", "128", "--batch-size", "4", "--lr", "1e-3", "--seed", "0",
              "--save-every", "4"]


def _write_data(path):
    rows = []
    for c in COLORS:
        rows.append({"instruction": "Write the word in capital letters.", "input": c, "output": c.upper()})
        rows.append({"instruction": "Reverse the word.", "input": c, "output": c[::-1]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    rows = _write_data(root / "data.jsonl")
    out = root / "model"
    t0 = time.perf_counter()
    proc = run_cli("train", root / "data.jsonl", "--out", out, *TRAIN_ARGS)
    return {"root": root, "out": out, "rows": rows, "proc": proc, "seconds": time.perf_counter() - t0}


def test_train_writes_an_adapter_usable_as_hf_model(trained):
    proc, out = trained["proc"], trained["out"]
    assert proc.returncode == 0, proc.stderr
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / "instructkit_model.json").read_text())["base"] == "hf:embedded"
    assert not (out / "checkpoints").exists()  # removed once the model is written
    log = json.loads((out / "training.json").read_text())
    assert log["steps"] == 12 and [s for s, _ in log["losses"]] == list(range(1, 13))
    assert "loss" in proc.stderr and "hf:" in proc.stderr
    chat = run_cli("chat", "--model", f"hf:{out}", "Reverse the word.\n\nred", "--max-tokens", "12")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()


def test_training_raised_the_likelihood_of_the_training_answers(trained):
    from instructkit.llm import open_model
    from instructkit.records import Example
    from instructkit.loop.train import example_messages

    before, after = open_model("hf:embedded"), open_model(f"hf:{trained['out']}")
    assert before.backend.info.identity != after.backend.info.identity

    def mean_lp(llm):
        total = []
        for r in trained["rows"][:6]:
            msgs = example_messages(Example(**r))
            total.append(asyncio.run(llm.score(msgs[:-1], msgs[-1]["content"])).mean_logprob)
        return sum(total) / len(total)

    lp_before, lp_after = mean_lp(before), mean_lp(after)
    assert lp_after > lp_before + 0.3, (lp_before, lp_after)
    losses = [x for _, x in json.loads((trained["out"] / "training.json").read_text())["losses"]]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4, losses


def test_rerun_is_a_no_op_and_other_settings_are_refused(trained):
    root, out = trained["root"], trained["out"]
    again = run_cli("train", root / "data.jsonl", "--out", out, *TRAIN_ARGS)
    assert again.returncode == 0 and "already trained" in again.stderr
    other = run_cli("train", root / "data.jsonl", "--out", out, *TRAIN_ARGS, "--lr", "5e-4")
    assert other.returncode == 2 and "new --out" in other.stderr


def test_killed_training_resumes_to_the_same_adapter(trained):
    from safetensors.torch import load_file

    root = trained["root"]
    out = root / "killed"
    cmd = [sys.executable, "-m", "instructkit", "train", str(root / "data.jsonl"), "--out", str(out),
           *TRAIN_ARGS, "--quiet"]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").is_file():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "adapter_config.json").exists()
    resumed = run_cli("train", root / "data.jsonl", "--out", out, *TRAIN_ARGS)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from step" in resumed.stderr
    a = load_file(str(trained["out"] / "adapter_model.safetensors"))
    b = load_file(str(out / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-5, worst


def _tasks(root):
    cls = {"Definition": ["Is the review positive or negative? Answer with one word."],
           "Positive Examples": [{"input": "I loved it.", "output": "positive"}],
           "Instances": [{"id": f"s{i}", "input": text, "output": [label]} for i, (text, label) in enumerate(
               [("What a wonderful film!", "positive"), ("I hated every minute.", "negative"),
                ("Great acting, fun story.", "positive"), ("Awful, a waste of time.", "negative")])]}
    gen = {"Definition": ["Write the capital city of the given country."],
           "Positive Examples": [{"input": "France", "output": "Paris"}],
           "Instances": [{"id": "c1", "input": "Italy", "output": ["Rome"]},
                         {"id": "c2", "input": "Japan", "output": ["Tokyo", "Tokyo, Japan"]}]}
    (root / "task_review_sentiment.json").write_text(json.dumps(cls))
    (root / "task_capitals.json").write_text(json.dumps(gen))
    return [root / "task_review_sentiment.json", root / "task_capitals.json"]


def test_eval_scores_two_tasks_through_the_door_and_resumes(trained):
    root = trained["root"]
    files = _tasks(root)
    out = root / "eval"
    args = ["eval", f"hf:{trained['out']}", "--tasks", *files, "--out", out, "--instances", "4",
            "--max-tokens", "12", "--demos", "1"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    res = json.loads((out / "results.json").read_text())
    sent, caps = res["tasks"]["task_review_sentiment"], res["tasks"]["task_capitals"]
    assert sent["kind"] == "classification" and sent["instances"] == 4
    assert sent["exact_match"] is not None and 0 <= sent["exact_match"] <= 100
    assert caps["kind"] == "generation" and caps["instances"] == 2 and caps["exact_match"] is None
    for t in (sent, caps):
        assert 0 <= t["rougeL"] <= 100
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 6 and all("prediction" in p for p in preds)
    assert "task_capitals" in proc.stdout and "overall" in proc.stdout
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "manifest.json").read_text())["counts"]["generated_now"] == 0
    assert json.loads((out / "results.json").read_text())["overall"] == res["overall"]
