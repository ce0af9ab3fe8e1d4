"""sourcegrid.quality."""
