"""Exact and MinHash dedup on planted duplicates; groups, representatives, CLI outputs and errors."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from instructkit.clean import minhash as mh
from instructkit.clean.dedup import DedupConfig, dedup
from instructkit.clean.groups import components, representatives
from instructkit.io import load_examples
from instructkit.records import Example

VOCAB = [f"{a}{b}{c}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "so", "ti", "vu", "ze")
         for b in ("b", "d", "g", "k", "m", "n", "r", "s", "t", "v") for c in ("a", "e", "i", "o", "u", "y")]


def sentence(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def near_copy(rng: random.Random, text: str) -> str:
    """One word edit (substitute, delete or insert) plus cosmetic case/punctuation changes."""
    w = text.split()
    k = rng.randrange(len(w))
    op = rng.choice(("sub", "del", "ins"))
    if op == "sub":
        w[k] = rng.choice(VOCAB)
    elif op == "del":
        del w[k]
    else:
        w.insert(k, rng.choice(VOCAB))
    w[0] = w[0].upper()
    return " ".join(w) + "."


def planted(seed: int = 0, n_base: int = 400, n_near: int = 200):
    """Distinct random texts, then near copies of some; returns (examples, group of each)."""
    rng = random.Random(seed)
    base = [sentence(rng) for _ in range(n_base)]
    exs = [Example(instruction=t, output="ok") for t in base]
    group = list(range(n_base))
    for _ in range(n_near):
        g = rng.randrange(n_base)
        exs.append(Example(instruction=near_copy(rng, base[g]), output="ok"))
        group.append(g)
    order = list(range(len(exs)))
    rng.shuffle(order)
    return [exs[i] for i in order], [group[i] for i in order]


def score(result, truth: list[int]) -> tuple[float, int]:
    """(recall of planted copies dropped into the right group, false merges)."""
    dropped = result.dropped
    expected = len(truth) - len(set(truth))
    right = sum(1 for i in dropped if truth[i] == truth[int(result.rep[i])])
    return right / expected, len(dropped) - right


def test_exact_dedup_finds_cosmetic_copies_only():
    exs = [Example("Name a fruit.", "", "Apple"), Example("name a FRUIT!", "", "apple."),
           Example("Name a fruit", "", "Pear"), Example("  Name   a fruit .", "", " Apple "),
           Example("Name a fruit.", "Apple", "")]  # same words, different fields: not a duplicate
    r = dedup(exs, DedupConfig(method="exact"))
    assert r.kept == [0, 2, 4]
    assert r.groups() == [[0, 1, 3]]
    assert r.similarity.tolist() == [1.0] * 5


def test_minhash_recall_and_no_false_merges():
    exs, truth = planted()
    r = dedup(exs, DedupConfig(method="minhash", threshold=0.7))
    recall, false = score(r, truth)
    assert recall >= 0.95
    assert false == 0
    # every surviving group is a planted group (nothing from two different base texts)
    for members in r.groups():
        assert len({truth[i] for i in members}) == 1


def test_minhash_exact_verification_matches_true_jaccard():
    exs, truth = planted(seed=3, n_base=200, n_near=100)
    r = dedup(exs, DedupConfig(method="minhash", threshold=0.7, verify="exact"))
    recall, false = score(r, truth)
    assert recall >= 0.95 and false == 0
    assert all(r.similarity[i] >= 0.7 - 1e-9 for i in r.dropped if truth[i] == truth[int(r.rep[i])])


def test_char_shingles_catch_typos():
    rng = random.Random(5)
    texts = [sentence(rng, 25) for _ in range(50)]
    exs = [Example(t) for t in texts] + [Example(t.replace("a", "e", 1)) for t in texts[:10]]
    r = dedup(exs, DedupConfig(method="minhash", shingle="char:5", threshold=0.8))
    assert sorted(r.dropped) == list(range(50, 60))
    assert [int(r.rep[i]) for i in range(50, 60)] == list(range(10))


def test_estimated_jaccard_is_unbiased():
    rng = random.Random(1)
    texts = [sentence(rng) for _ in range(300)]
    texts += [near_copy(rng, t) for t in texts]
    h, o = mh.shingle_hashes(texts, "word", 3)
    sig = mh.MinHasher(256).signatures(h, o, len(texts))
    pairs = np.array([[i, i + 300] for i in range(300)])
    est, true = mh.estimated_jaccard(sig, pairs), mh.exact_jaccard(h, o, len(texts), pairs)
    assert abs(float((est - true).mean())) < 0.01
    assert float(np.abs(est - true).mean()) < 0.05  # ~ sqrt(J(1-J)/256)


def test_quality_then_first_decides_the_kept_one():
    t = "Explain why the sky looks blue during the day and red at sunset."
    exs = [Example(t, output="a", meta={"score": 1}), Example(t + "!", output="a", meta={"score": 3}),
           Example(t.upper(), output="a", meta={"score": 3}), Example("Write a haiku about autumn leaves.")]
    for method in ("exact", "minhash"):
        r = dedup(exs, DedupConfig(method=method))
        assert r.kept == [1, 3], method  # highest score; the tie 1 vs 2 goes to the first
    no_q = [Example(e.instruction, e.input, e.output) for e in exs]
    assert dedup(no_q, DedupConfig(method="exact")).kept == [0, 3]
    named = [Example(e.instruction, e.input, e.output, {"judge": {"q": q}}) for e, q in zip(exs, (9, 1, 2, 0))]
    assert dedup(named, DedupConfig(method="exact", quality_field="judge.q")).kept == [0, 3]


def test_groups_do_not_depend_on_pair_order():
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 200, size=(150, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    a = components(200, pairs)
    b = components(200, pairs[rng.permutation(len(pairs))][:, ::-1])
    assert a.tolist() == b.tolist()
    # reference: plain union-find
    parent = list(range(200))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for i, j in pairs.tolist():
        parent[find(i)] = find(j)
    roots = [find(i) for i in range(200)]
    for i in range(200):
        for j in range(i + 1, 200):
            assert (roots[i] == roots[j]) == (a[i] == a[j])
    assert all(a[i] <= i for i in range(200))
    rep = representatives(a)
    assert all(rep[i] == a[i] for i in range(200))


def test_lsh_params_follow_threshold():
    lo = mh.lsh_params(0.5, 128)
    hi = mh.lsh_params(0.9, 128)
    assert lo[0] * lo[1] <= 128 and hi[0] * hi[1] <= 128
    # a higher threshold needs more rows per band (a steeper, later S-curve)
    assert hi[1] > lo[1]


def test_empty_texts_group_together():
    exs = [Example("", "", ""), Example("hello there friend"), Example("", "", "")]
    r = dedup(exs, DedupConfig(method="minhash"))
    assert r.kept == [0, 1]


def _write(path, exs):
    path.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in exs), encoding="utf-8")


def test_cli_dedup_writes_outputs(tmp_path, cli):
    exs, truth = planted(seed=2, n_base=60, n_near=20)
    src = tmp_path / "in.jsonl"
    _write(src, exs)
    out = tmp_path / "out"
    p = cli("dedup", src, "--out", out, "--method", "minhash", "--threshold", "0.7", "--quiet")
    assert p.returncode == 0, p.stderr
    kept = [json.loads(x) for x in (out / "kept.jsonl").read_text().splitlines()]
    dropped = [json.loads(x) for x in (out / "dropped.jsonl").read_text().splitlines()]
    groups = [json.loads(x) for x in (out / "groups.jsonl").read_text().splitlines()]
    man = json.loads((out / "manifest.json").read_text())
    assert len(kept) + len(dropped) == 80
    assert man["counts"]["kept"] == len(kept) and man["counts"]["dropped"] == len(dropped)
    assert man["status"] == "complete" and man["counts"]["groups"] == len(groups)
    by_id = {e.id: i for i, e in enumerate(exs)}
    for d in dropped:
        assert truth[d["index"]] == truth[d["kept_index"]]
        assert d["kept_id"] == exs[d["kept_index"]].id and 0.7 <= d["similarity"] <= 1.0
    kept_ids = {k["id"] for k in kept}
    for g in groups:
        assert g["kept_id"] in kept_ids and len(g["members"]) == g["size"] >= 2
    assert all(k["id"] in by_id for k in kept)
    # the run directory reads back as its kept examples
    assert [e.id for e in load_examples(out)] == [k["id"] for k in kept]
    # re-running gives the same files
    before = (out / "kept.jsonl").read_text()
    assert cli("dedup", src, "--out", out, "--quiet").returncode == 0
    assert (out / "kept.jsonl").read_text() == before


@pytest.mark.parametrize("args, needle", [
    (["--method", "fuzzy"], "--method"),
    (["--threshold", "1.5"], "--threshold"),
    (["--fields", "instruction,answer"], "--fields"),
    (["--shingle", "token:3"], "--shingle"),
    (["--bands", "20", "--rows", "10"], "--lsh-bands"),   # the old names still parse (hidden aliases)
    (["--lsh-bands", "20", "--lsh-rows", "10"], "--lsh-bands"),
    (["--quality-field", "nope", "--method", "exact"], "--quality-field"),
])
def test_cli_bad_flags_exit_2_one_line(tmp_path, cli, args, needle):
    src = tmp_path / "in.jsonl"
    _write(src, [Example("a b c d"), Example("e f g h")])
    p = cli("dedup", src, "--out", tmp_path / "o", *args)
    assert p.returncode == 2
    errors = [x for x in p.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in p.stderr
    assert not (tmp_path / "o" / "kept.jsonl").exists()


def test_cli_bad_input_exit_2(tmp_path, cli):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok"}\n{not json\n')
    p = cli("dedup", bad, "--out", tmp_path / "o")
    assert p.returncode == 2 and "bad.jsonl:2" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert p.stderr.startswith("error:")
    p = cli("dedup", tmp_path / "missing.jsonl", "--out", tmp_path / "o")
    assert p.returncode == 2 and "missing.jsonl" in p.stderr
    assert not (tmp_path / "o").exists()


def test_a_bad_shingle_fails_in_validate_for_the_command_and_the_recipe_stage():
    from instructkit.errors import UserError

    with pytest.raises(UserError, match="--shingle 'word:0'"):
        DedupConfig(method="minhash", shingle="word:0").validate()
    DedupConfig(method="exact", shingle="word:0").validate()  # only MinHash uses shingles
    DedupConfig(method="minhash", shingle="char:5").validate()
