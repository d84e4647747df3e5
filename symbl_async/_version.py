"""The package version, in a module of its own so nothing imports ``__init__`` for it."""

__version__ = "0.1.0"
