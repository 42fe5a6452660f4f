from store import save_record


def import_users(users):
    for user in users:
        save_record(user)


def sync(a, b):
    save_record(a)
    save_record(b)
    save_record({"a": a, "b": b})


def cleanup(rows):
    save_record(rows)
