def price_with_tax(net):
    return round(net * (1 + 0.2), 2)
