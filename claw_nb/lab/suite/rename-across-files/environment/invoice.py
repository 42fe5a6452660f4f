from billing import calc_total


def invoice_line(name, prices):
    return f"{name}: {calc_total(prices)}"
