"""Orders: providers, the CSV import, the lookup, returns and late-order notices."""
