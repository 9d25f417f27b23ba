from instructkit.records import Example, Task, stable_hash


def test_example_id_is_content_hash():
    a = Example("Translate.", "hola", "hello", meta={"x": 1})
    b = Example("Translate.", "hola", "hello", meta={"x": 2})
    c = Example("Translate.", "hola", "hi")
    assert a.id == b.id  # provenance does not change identity
    assert a.id != c.id
    assert Example.from_dict(a.to_dict()).to_dict() == a.to_dict()


def test_task_id_and_kind():
    t = Task("Classify the topic.", ["text"], "label", label_space=["a", "b"],
             source={"dataset": "news", "config": None})
    assert t.kind == "classification"
    t2 = Task.from_dict(t.to_dict())
    assert t2 == t
    other = Task("Classify the topic.", ["text"], "label", source={"dataset": "other"})
    assert other.id != t.id and other.kind == "generation"


def test_stable_hash_is_key_order_insensitive():
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    assert stable_hash("a", "b") != stable_hash("b", "a")
