def step(n):
    return n // 2 if n % 2 == 0 else 3 * n + 1


def compute(n):
    total, steps = 0, 0
    while n != 1:
        n = step(n)
        total += n
        steps += 1
    return total * 10 + steps
