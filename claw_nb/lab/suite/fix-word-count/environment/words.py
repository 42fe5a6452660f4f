from collections import Counter


def top_words(text, n):
    counts = Counter(text.split())
    return counts.most_common(n)
