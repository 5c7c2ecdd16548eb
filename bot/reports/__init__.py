"""The service report: figures held to the service standards."""
