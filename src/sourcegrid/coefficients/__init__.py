"""sourcegrid.coefficients."""
