"""After service: satisfaction surveys, revisits and NPS."""
