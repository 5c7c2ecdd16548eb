"""kefu, the service: configuration, wiring, domain services and the command line."""
