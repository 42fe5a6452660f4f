import argparse


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    args = parser.parse_args(argv)
    with open(args.file) as f:
        print(len(f.read().split()))


if __name__ == "__main__":
    main()
