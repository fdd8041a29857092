"""``python -m matchchoose_microzoo``: the ``mnc-microzoo`` command."""

from .cli import main

if __name__ == "__main__":
    main()
