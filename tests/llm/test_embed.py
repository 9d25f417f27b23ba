import numpy as np
import pytest

from instructkit.embed import EmbeddingCache, embed_texts, resolve_embedder
from instructkit.errors import UserError

pytestmark = pytest.mark.slow


def test_bundled_minilm_embeds_and_caches(tmp_path, monkeypatch):
    cache = tmp_path / "emb.sqlite"
    texts = ["A cat sat on the mat.", "A kitten rested on a rug.", "Stock markets fell sharply.",
             "A cat sat on the mat."]
    v = embed_texts(texts, cache=cache)
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert np.allclose(v[0], v[3])
    # paraphrase closer than an unrelated sentence
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    # second call: served from the cache, the model is never asked
    import instructkit.embed as emb

    def boom(*a, **k):
        raise AssertionError("model loaded although every text is cached")

    monkeypatch.setattr(emb, "_load_model", boom)
    v2 = embed_texts(texts, cache=cache)
    assert np.array_equal(v, v2)
    assert len(EmbeddingCache(cache).get_many([EmbeddingCache.key(resolve_embedder("minilm")[0], t)
                                               for t in texts])) == 3


def test_bad_embedder_spec():
    with pytest.raises(UserError):
        resolve_embedder("word2vec")
