import os

BASE_PORT = 8000
OFFSET = 80


def port():
    return int(os.environ.get("APP_PORT", BASE_PORT + OFFSET + 8))
