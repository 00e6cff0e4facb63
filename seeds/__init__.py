"""The data shipped with crwatch: vocabularies, sources, the seed baseline (package data, no code).

An importable package so a non-editable `pip install .` carries these files next to the code;
`SEEDS_DIR` is where they are, in a checkout or in site-packages. The `seeds_dir` setting
points crwatch at another folder of the same shape (see README.md in this folder).
"""

from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent
