"""Route groups of the Aurora API."""
