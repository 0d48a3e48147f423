"""The version of vaebench (one place: the package, its records and its reports read it from here)."""

__version__ = "0.1.0"
