import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import datetime
from dates import parse_iso, days_between

def test_parse():
    assert parse_iso("2024-02-29") == datetime.date(2024, 2, 29)

def test_parse_late_month():
    assert parse_iso("2023-12-25") == datetime.date(2023, 12, 25)

def test_days_between():
    assert days_between("2024-01-30", "2024-03-01") == 31
