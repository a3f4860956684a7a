"""Helpers shared by the test rooms (importable as `support` thanks to pytest's pythonpath)."""
