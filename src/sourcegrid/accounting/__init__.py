"""sourcegrid.accounting."""
