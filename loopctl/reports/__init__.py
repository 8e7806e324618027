"""Renderers of a record: the markdown report, its tables, and JUnit XML."""
