"""The package's version, in a module that imports nothing (setuptools reads it
from here, and the modules that record it in saved files read it from here)."""

__version__ = "0.1.0"
