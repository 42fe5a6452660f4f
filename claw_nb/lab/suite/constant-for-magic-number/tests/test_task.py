import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
def test_constant_defined_and_used():
    import settings
    assert settings.TAX_RATE == 0.2
    for name in ("shop.py", "refunds.py"):
        text = (WS / name).read_text()
        assert "0.2" not in text and "TAX_RATE" in text, name

def test_behaviour_kept():
    import settings
    from shop import price_with_tax
    from refunds import refund
    assert settings.TAX_RATE == 0.2
    assert price_with_tax(10) == 12.0 and refund(12) == 10.0
