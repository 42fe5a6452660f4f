import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import pytest
from models import Order

@pytest.mark.parametrize("args, field", [(("", 1, 1.0), "item"), (("x", 0, 1.0), "quantity"),
                                         (("x", 1, -2.0), "unit_price")])
def test_invalid(args, field):
    with pytest.raises(ValueError, match=field):
        Order(*args)

def test_total():
    assert Order("pen", 3, 1.5).total == 4.5
