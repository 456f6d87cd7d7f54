"""Benchmark of the download engine: ``make bench`` (``python -m bench``).

``bench.server`` is the image server (its own process), ``bench.run`` one measured run (its own process,
so runs and their peak RSS do not affect each other), ``bench.__main__`` starts them and prints the table.
"""
