"""Work past one machine on an existing distributed engine (Ray)."""
