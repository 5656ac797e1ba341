"""The on-disk index: building it and opening it for queries."""

from .build import BuildOptions, BuildResult, build_index
from .format import FORMAT, VERSION, Index

__all__ = ["BuildOptions", "BuildResult", "FORMAT", "Index", "VERSION", "build_index"]
