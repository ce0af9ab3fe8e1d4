"""sourcegrid.grid."""
