def refund(gross):
    return round(gross / (1 + 0.2), 2)
