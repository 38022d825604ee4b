"""``python -m veil``: the same command line as the ``veil`` script (e.g. for -X importtime)."""

from veil.cli import main

if __name__ == "__main__":
    main()
