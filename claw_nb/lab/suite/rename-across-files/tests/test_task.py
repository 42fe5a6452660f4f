import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
def test_new_name_works_everywhere():
    import billing, invoice, report
    assert billing.compute_total([10, 10]) == 24.0
    assert invoice.invoice_line("a", [1]) == "a: 1.2"
    assert report.report({"x": [1, 2]}) == {"x": 3}

def test_old_name_is_gone():
    text = "".join((WS / f).read_text() for f in ("billing.py", "invoice.py", "report.py"))
    assert "calc_total" not in text and "compute_total" in text
