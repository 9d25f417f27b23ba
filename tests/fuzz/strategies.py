"""Hypothesis strategies for malformed data files of every supported format, and the seed corpus.

A drawn file is ``(suffix, bytes)``: JSONL, JSON, CSV, TSV, Parquet or gzip (of JSONL/CSV), mixing good
rows, rows that break the record contract, broken syntax, binary noise, deep nesting, ragged and
duplicate-column CSVs, corrupted or truncated Parquet/gzip.
"""

from __future__ import annotations

import csv
import gzip
import io
import json

from hypothesis import strategies as st

KEYS = ["instruction", "input", "output", "meta", "id", "task_id", "messages", "pu", "pp"]
GOOD_ROW = {"instruction": "Name a colour.", "input": "", "output": "blue", "task_id": "t1"}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=12), st.just(""), st.just("  "))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=6)
good_rows = st.builds(lambda i, o, t: {"instruction": f"Say {i}.", "input": "", "output": o, "task_id": t},
                      st.text(min_size=1, max_size=10).filter(str.strip), st.text(max_size=10),
                      st.sampled_from(["a", "b", "c"]))
any_rows = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)
numbers = st.one_of(st.floats(0, 1), st.floats(allow_nan=True), st.none(), st.booleans(), st.text(max_size=4),
                    st.lists(st.integers(), max_size=2))
score_rows = st.fixed_dictionaries({"task_id": st.one_of(st.sampled_from(["a", "b", "c"]), scalars),
                                    "pu": numbers, "pp": numbers}, optional={"perplexity": numbers})
rows = st.one_of(good_rows, good_rows, any_rows, score_rows)


def deep(n: int) -> str:
    return '{"instruction": "x", "meta": ' + "[" * n + "]" * n + "}"


# lines that are not a JSON object, or an object with broken text
raw_lines = st.one_of(st.text(max_size=30), st.just("{"), st.just("[1, 2]"), st.just("null"),
                      st.just('{"instruction": "a \\ud800 b", "output": "o"}'), st.just(deep(100_000)),
                      st.just(deep(60)))


@st.composite
def jsonl_text(draw) -> str:
    lines = draw(st.lists(st.one_of(rows.map(json.dumps), rows.map(json.dumps), raw_lines), max_size=8))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@st.composite
def json_text(draw) -> str:
    body = draw(st.lists(rows, max_size=6))
    shape = draw(st.sampled_from(["list", "data", "object", "scalar", "broken", "jsonl"]))
    if shape == "list":
        return json.dumps(body)
    if shape == "data":
        return json.dumps({"data": body, "version": 1})
    if shape == "object":
        return json.dumps(body[0] if body else {})
    if shape == "scalar":
        return json.dumps(draw(scalars))
    if shape == "jsonl":
        return "\n".join(json.dumps(r) for r in body)
    return json.dumps(body)[: draw(st.integers(0, 40))]


@st.composite
def csv_text(draw, delimiter: str = ",") -> str:
    names = st.sampled_from(["instruction", "input", "output", "task_id", "x", ""])
    header = draw(st.lists(names, min_size=1, max_size=4))
    cells = st.one_of(st.text(max_size=10), st.sampled_from(["", "0", "007", "4.5", "true", 'a "quoted", b']))
    body = draw(st.lists(st.lists(cells, min_size=max(0, len(header) - 1), max_size=len(header) + 1), max_size=6))
    buf = io.StringIO()
    if draw(st.booleans()):
        w = csv.writer(buf, delimiter=delimiter)
        w.writerow(header)
        w.writerows(body)
    else:  # hand-written: unquoted delimiters and quotes left as they are
        buf.write("\n".join(delimiter.join(r) for r in [header, *body]))
    return buf.getvalue()


def parquet_bytes(table_rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pylist(table_rows or [GOOD_ROW])
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        table = pa.Table.from_pylist([{k: json.dumps(v) for k, v in r.items()} for r in table_rows] or [GOOD_ROW])
    buf = io.BytesIO()
    try:
        pq.write_table(table, buf)
    except (pa.ArrowException, TypeError, ValueError):
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([GOOD_ROW]), buf)
    return buf.getvalue()


@st.composite
def damaged(draw, data: bytes) -> bytes:
    how = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if how == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip" and data:
        pos = draw(st.integers(0, len(data) - 1))
        noise = draw(st.binary(min_size=1, max_size=16))
        return data[:pos] + noise + data[pos + len(noise):]
    return data


@st.composite
def data_files(draw) -> tuple[str, bytes]:
    """One malformed-or-not data file: (suffix, content)."""
    kind = draw(st.sampled_from(["jsonl", "json", "csv", "tsv", "parquet", "gz", "binary"]))
    if kind == "jsonl":
        return ".jsonl", draw(jsonl_text()).encode("utf-8", "surrogatepass")
    if kind == "json":
        return ".json", draw(json_text()).encode()
    if kind == "csv":
        return ".csv", draw(csv_text()).encode()
    if kind == "tsv":
        return ".tsv", draw(csv_text("\t")).encode()
    if kind == "parquet":
        return ".parquet", draw(damaged(parquet_bytes(draw(st.lists(rows, max_size=5)))))
    if kind == "gz":
        inner, suffix = draw(st.sampled_from([(jsonl_text(), ".jsonl.gz"), (csv_text(), ".csv.gz")]))
        return suffix, draw(damaged(gzip.compress(draw(inner).encode("utf-8", "surrogatepass"))))
    return draw(st.sampled_from([".jsonl", ".json", ".csv", ".parquet"])), draw(st.binary(max_size=300))


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


GOOD_JSONL = json.dumps(GOOD_ROW) + "\n"
# the seed corpus: every case of issue 19, each a file as a user handed it over
SEEDS: list[tuple[str, bytes]] = [
    (".jsonl", bytes(range(256)) * 4),                                                  # binary garbage
    (".jsonl", json.dumps({"instruction": "café"}, ensure_ascii=False).encode("latin-1") + b"\n"),  # not UTF-8
    (".jsonl", (deep(100_000) + "\n").encode()),                                        # RecursionError
    (".json", ("[" * 100_000 + "]" * 100_000).encode()),
    (".jsonl", (GOOD_JSONL + deep(60) + "\n").encode()),                                # deeper than the contract
    (".parquet", b"PAR1" + b"\x00" * 40 + b"PAR1"),                                     # corrupt Parquet
    (".parquet", parquet_bytes([GOOD_ROW] * 3)[:-9]),                                  # truncated Parquet
    (".jsonl.gz", _gz(GOOD_JSONL * 50)[:30]),                                           # truncated gzip
    (".csv", b"instruction,input,output\nSay hi,,hi\nSay bye,bye\n"),                   # ragged CSV
    (".csv", b"instruction,output,output\nSay hi,hi,hello\n"),                          # duplicate column
    (".jsonl", (GOOD_JSONL + '{"instruction": null, "output": "x"}\n').encode()),      # null instruction
    (".jsonl", (GOOD_JSONL + '{"output": "x"}\n').encode()),                            # missing instruction
    (".jsonl", (GOOD_JSONL + '{"instruction": "i", "output": [1, 2]}\n').encode()),    # output a list
    (".jsonl", (GOOD_JSONL + '{"instruction": "a \\ud800", "output": "o"}\n').encode()),  # lone surrogate
    (".jsonl", b'{"instruction": "Say 0\\u0085.", "output": ""}\n'),                     # NEL: text, not a newline
    (".jsonl", b""),                                                                    # empty
    (".jsonl", GOOD_JSONL.encode()),                                                    # good (exit 0 path)
    (".jsonl", b'{"instruction": "Say it.", "input": "a", "output": 0, "meta": {"task_id": "t1"}}\n'),  # eval: "0"
    (".json", b'{"Definition": "Say it.", "Instances": [{"input": null, "output": ["b", 4]}]}'),  # Super-NI
]
