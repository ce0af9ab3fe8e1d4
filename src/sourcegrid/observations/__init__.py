"""sourcegrid.observations."""
