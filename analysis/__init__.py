"""Analysis of runs: ``load_run(path)`` gives DataFrames for notebooks."""

from analysis.load import RunData, load_run

__all__ = ["RunData", "load_run"]
