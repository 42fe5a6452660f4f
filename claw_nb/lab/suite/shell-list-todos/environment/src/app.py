x = 1  # TODO: handle errors
