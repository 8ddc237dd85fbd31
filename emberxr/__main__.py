"""``python -m emberxr`` is the ``emberxr`` command line."""

from emberxr.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
