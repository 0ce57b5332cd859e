"""recsys: a notebook-first movie recommendation system (MovieLens 100K + course data)."""

__version__ = "0.1.0"
