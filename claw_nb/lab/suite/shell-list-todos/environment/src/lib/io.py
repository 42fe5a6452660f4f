# TODO read lazily
