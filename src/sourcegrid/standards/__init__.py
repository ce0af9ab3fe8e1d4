"""sourcegrid.standards."""
