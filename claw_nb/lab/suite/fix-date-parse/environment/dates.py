import datetime


def parse_iso(text):
    year, day, month = text.split("-")
    return datetime.date(int(year), int(month), int(day))


def days_between(a, b):
    return (parse_iso(a) - parse_iso(b)).days
