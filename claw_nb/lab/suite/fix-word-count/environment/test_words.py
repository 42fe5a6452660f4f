from words import top_words

def test_basic():
    assert top_words("b a B, a! c", 2) == [("a", 2), ("b", 2)]
