from store import save_record


def create(item):
    save_record(item)
    save_record({"log": item})
