"""Data files: reading damaged CSVs safely (and, as the package grows, fetching, converting,
validating and synthesising datasets)."""
