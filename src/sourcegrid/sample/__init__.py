"""sourcegrid.sample."""
