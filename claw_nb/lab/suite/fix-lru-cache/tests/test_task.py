import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
from lru import LRUCache

def test_evicts_least_recent():
    c = LRUCache(2)
    c.put("a", 1); c.put("b", 2); c.put("c", 3)
    assert c.get("a") is None and c.get("c") == 3

def test_get_refreshes():
    c = LRUCache(3)
    c.put("a", 1); c.put("b", 2); c.put("c", 3); c.get("a"); c.put("d", 4)
    assert c.get("b") is None and c.get("c") == 3 and c.get("a") == 1

def test_put_refreshes():
    c = LRUCache(3)
    c.put("a", 1); c.put("b", 2); c.put("c", 3); c.put("a", 10); c.put("d", 4)
    assert (c.get("b"), c.get("c"), c.get("a"), len(c)) == (None, 3, 10, 3)
