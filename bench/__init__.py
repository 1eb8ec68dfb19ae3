"""The benchmark: `python -m bench` (make bench). A tool, not a test: it prints tables."""
