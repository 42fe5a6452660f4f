import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import pytest

def test_succeeds_after_failures():
    from retrying import retry
    calls = []

    @retry(3)
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("again")
        return "ok"

    assert flaky() == "ok" and len(calls) == 3

def test_gives_up_with_last_exception():
    from retrying import retry
    calls = []

    @retry(2, exceptions=(KeyError,))
    def bad():
        calls.append(1)
        raise KeyError(len(calls))

    with pytest.raises(KeyError) as info:
        bad()
    assert info.value.args == (2,)

def test_other_exceptions_propagate_at_once_and_metadata_kept():
    from retrying import retry
    calls = []

    @retry(5, exceptions=(KeyError,))
    def boom():
        "Docs."
        calls.append(1)
        raise ValueError

    with pytest.raises(ValueError):
        boom()
    assert len(calls) == 1 and boom.__name__ == "boom" and boom.__doc__ == "Docs."
