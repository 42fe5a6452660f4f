def save_record(record):
    print("saved", record)
