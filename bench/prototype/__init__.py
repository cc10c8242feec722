"""Prototypes of serving-path changes, measured against ours by `python -m bench.prototype`."""
