"""Analysis of runs: ``load_run(path)`` gives DataFrames for notebooks; ``metrics`` the numbers
with their confidence intervals."""

from analysis.load import RunData, load_run, load_runs

__all__ = ["RunData", "load_run", "load_runs"]
