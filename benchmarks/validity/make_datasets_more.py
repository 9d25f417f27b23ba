"""Write the second batch of public-format folders of the validity set (benchmarks/validity/datasets_more/).

Same idea as make_datasets.py, other shapes: IMDB-style reviews with a stray ``dataset_infos.json``
and a test split, SNLI-style pairs, SQuAD-v2-style answers (``{"text": [...], "answer_start": [...]}``),
AG-News-style CSV, CNN/DailyMail-style highlights under a versioned config, WMT-style translation
dicts, WikiANN-style tokens with spans, SVAMP-style math, BoolQ, HellaSwag endings, Emotion, TREC
(two ClassLabels) and SAMSum dialogues. Every row was written for instructkit.

    python benchmarks/validity/make_datasets_more.py      # rewrites the folders (deterministic)
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from make_datasets_more_rows import (AGNEWS, BOOLQ, CNN, EMOTION, HELLASWAG, IMDB, SAMSUM, SNLI,
                                     SQUAD, SVAMP, TREC, WIKIANN, WMT)

ROOT = Path(__file__).parent / "datasets_more"


def card(name: str, features: str, summary: str, extra_yaml: str = "", n: int = 0) -> str:
    return (f"---\npretty_name: {name} (instructkit validity set)\nlicense: cc-by-4.0\n{extra_yaml}"
            f"dataset_info:\n  features:\n{features.rstrip()}\n  splits:\n  - name: train\n"
            f"    num_examples: {n}\n---\n\n# {name}\n\n## Dataset Summary\n\n{summary.strip()}\n")


def class_label(name: str, names: list[str]) -> str:
    out = f"  - name: {name}\n    dtype:\n      class_label:\n        names:\n"
    return out + "".join(f"          '{i}': {n}\n" for i, n in enumerate(names))


def string(*names: str) -> str:
    return "".join(f"  - name: {n}\n    dtype: string\n" for n in names)


def write(name: str, readme: str, rows: list[dict], file: str = "train.jsonl",
          extra: dict[str, str] | None = None) -> None:
    d = ROOT / name
    (d / file).parent.mkdir(parents=True, exist_ok=True)
    (d / "README.md").write_text(readme, encoding="utf-8")
    (d / file).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for fname, content in (extra or {}).items():
        (d / fname).write_text(content, encoding="utf-8")


def imdb() -> None:
    names = ["neg", "pos"]
    feats = string("text") + class_label("label", names)
    summ = ("Movie reviews from a review site, each labelled negative (neg) or positive (pos). A test split "
            "is given; `dataset_infos.json` is the legacy metadata file, not data.")
    rows = [{"text": t, "label": y} for t, y in IMDB]
    infos = json.dumps({"plain_text": {"description": "IMDB-style reviews", "features": {
        "text": {"dtype": "string"}, "label": {"names": names}}}}, indent=2)
    write("imdb_style", card("IMDB-style reviews", feats, summ, n=len(rows) - 4), rows[:-4], "train.jsonl",
          extra={"dataset_infos.json": infos + "\n"})
    write("imdb_style", card("IMDB-style reviews", feats, summ, n=len(rows) - 4), rows[-4:], "test.jsonl",
          extra={"dataset_infos.json": infos + "\n"})


def snli() -> None:
    feats = string("premise", "hypothesis") + class_label("label", ["entailment", "neutral", "contradiction"])
    summ = ("Pairs of sentences: does the premise entail the hypothesis, contradict it, or neither "
            "(neutral)? Premises describe photographs.")
    write("snli_style", card("SNLI-style inference", feats, summ, n=len(SNLI)),
          [{"premise": p, "hypothesis": h, "label": y} for p, h, y in SNLI])


def squad() -> None:
    feats = string("id", "title", "context", "question") + (
        "  - name: answers\n    sequence:\n    - name: text\n      dtype: string\n"
        "    - name: answer_start\n      dtype: int32\n")
    summ = "Questions about Wikipedia-style paragraphs; the answer is a span copied from the paragraph."
    rows = [{"id": f"5a{i:06x}", "title": t, "context": c, "question": q,
             "answers": {"text": [a], "answer_start": [c.index(a)]}} for i, (t, c, q, a) in enumerate(SQUAD)]
    write("squad_v2_style", card("SQuAD-style reading comprehension", feats, summ, n=len(rows)), rows)


def ag_news() -> None:
    """The original AG News ships as CSV: class index, title, description."""
    feats = class_label("label", ["World", "Sports", "Business", "Sci/Tech"]) + string("title", "description")
    summ = "News headlines with a short description, classified into four topics."
    d = ROOT / "ag_news_csv"
    d.mkdir(parents=True, exist_ok=True)
    (d / "README.md").write_text(card("AG-News-style topics", feats, summ, n=len(AGNEWS)), encoding="utf-8")
    with open(d / "train.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["label", "title", "description"])
        w.writerows(AGNEWS)
    (d / "classes.txt").write_text("World\nSports\nBusiness\nSci/Tech\n", encoding="utf-8")


def cnn() -> None:
    extra = "configs:\n- config_name: 3.0.0\n  data_files:\n  - split: train\n    path: 3.0.0/train-*.jsonl\n"
    feats = string("article", "highlights", "id")
    summ = "News articles with the bullet-point highlights written by their journalists."
    rows = [{"article": a, "highlights": h, "id": f"{(i * 2654435761) % 16**12:012x}"} for i, (a, h) in enumerate(CNN)]
    write("cnn_dailymail_style", card("CNN/DailyMail-style highlights", feats, summ, extra, len(rows)), rows,
          "3.0.0/train-00000-of-00001.jsonl")


def wmt() -> None:
    feats = "  - name: translation\n    dtype:\n      translation:\n        languages:\n        - de\n        - en\n"
    summ = "German-English sentence pairs from news text, one `translation` dict per row."
    write("wmt_de_en_style", card("WMT-style de-en", feats, summ, n=len(WMT)),
          [{"translation": {"de": de, "en": en}} for de, en in WMT])


def wikiann() -> None:
    tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    feats = ("  - name: tokens\n    sequence: string\n  - name: ner_tags\n    sequence:\n      class_label:\n"
             "        names:\n" + "".join(f"          '{i}': {t}\n" for i, t in enumerate(tags)) +
             "  - name: langs\n    sequence: string\n  - name: spans\n    sequence: string\n")
    summ = "Wikipedia sentences with person, organisation and location names tagged (BIO), and the names as spans."
    rows = []
    for sent, tagstr in WIKIANN:
        toks, ids = sent.split(), [tags.index(t) for t in tagstr.split()]
        spans, cur = [], None
        for tok, t in zip(toks, tagstr.split()):
            if t.startswith("B-"):
                cur = [t[2:], tok]
                spans.append(cur)
            elif t.startswith("I-") and cur:
                cur.append(tok)
            else:
                cur = None
        rows.append({"tokens": toks, "ner_tags": ids, "langs": ["en"] * len(toks),
                     "spans": [f"{s[0]}: {' '.join(s[1:])}" for s in spans]})
    write("wikiann_style", card("WikiANN-style names", feats, summ, n=len(rows)), rows)


def svamp() -> None:
    feats = string("ID", "Body", "Question", "Equation", "Type") + "  - name: Answer\n    dtype: float64\n"
    summ = "Simple arithmetic word problems: a story (Body), a question, the equation that answers it and the number."
    rows = [{"ID": f"chal-{i + 1}", "Body": b, "Question": q, "Equation": e, "Answer": float(eval(e)), "Type": ty}
            for i, (b, q, e, ty) in enumerate(SVAMP)]
    write("svamp_style", card("SVAMP-style math", feats, summ, n=len(rows)), rows)


def boolq() -> None:
    feats = string("question") + "  - name: answer\n    dtype: bool\n" + string("passage")
    summ = "Yes/no questions about a passage; `answer` is true when the passage supports a yes."
    write("boolq_style", card("BoolQ-style yes/no", feats, summ, n=len(BOOLQ)),
          [{"question": q, "answer": a, "passage": p} for q, a, p in BOOLQ])


def hellaswag() -> None:
    feats = (string("ind", "activity_label", "ctx") + "  - name: endings\n    sequence: string\n" +
             string("source_id", "split", "label"))
    summ = "Commonsense sentence completion: pick the ending (0-3) that most plausibly continues the context."
    rows = [{"ind": str(i), "activity_label": a, "ctx": c, "endings": e, "source_id": f"activitynet~v_{i:05d}",
             "split": "train", "label": str(y)} for i, (a, c, e, y) in enumerate(HELLASWAG)]
    write("hellaswag_style", card("HellaSwag-style endings", feats, summ, n=len(rows)), rows)


def emotion() -> None:
    names = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    feats = string("text") + class_label("label", names)
    summ = "Short English messages labelled with the emotion they express (six classes)."
    write("emotion_style", card("Emotion-style messages", feats, summ, n=len(EMOTION)),
          [{"text": t, "label": names.index(y)} for t, y in EMOTION], "data/train-00000-of-00001.jsonl")


def trec() -> None:
    coarse = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
    fine = ["abb", "exp", "animal", "food", "def", "manner", "reason", "ind", "gr", "city", "country",
            "count", "date", "dist", "money", "period"]
    feats = string("text") + class_label("coarse_label", coarse) + class_label("fine_label", fine)
    summ = ("Questions labelled with the kind of answer they expect: a coarse class (abbreviation, entity, "
            "description, human, location, numeric) and a fine one.")
    write("trec_style", card("TREC-style question types", feats, summ, n=len(TREC)),
          [{"text": t, "coarse_label": coarse.index(c), "fine_label": fine.index(f)} for t, c, f in TREC])


def samsum() -> None:
    feats = string("id", "dialogue", "summary")
    summ = "Messenger-like chats between friends, each with a short third-person summary."
    write("samsum_style", card("SAMSum-style dialogues", feats, summ, n=len(SAMSUM)),
          [{"id": f"1380{i:04d}", "dialogue": d, "summary": s} for i, (d, s) in enumerate(SAMSUM)])


MAKERS = (imdb, snli, squad, ag_news, cnn, wmt, wikiann, svamp, boolq, hellaswag, emotion, trec, samsum)

if __name__ == "__main__":
    for make in MAKERS:
        make()
    print(f"wrote {len(list(ROOT.iterdir()))} datasets under {ROOT}")
