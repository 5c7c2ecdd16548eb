"""Quality inspection (质检) of the agents' work."""
