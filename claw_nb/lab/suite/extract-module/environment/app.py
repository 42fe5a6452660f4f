import sys


def parse_pairs(args):
    return dict(arg.split("=", 1) for arg in args)


def format_table(pairs):
    width = max(len(k) for k in pairs)
    return "\n".join(f"{k.ljust(width)} | {v}" for k, v in sorted(pairs.items()))


def main(argv):
    print(format_table(parse_pairs(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
