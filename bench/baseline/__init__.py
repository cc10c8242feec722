"""The baseline: the seed notebook's FastAPI serving design, running our graph."""
