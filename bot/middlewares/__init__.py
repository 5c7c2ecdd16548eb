"""Around every update: the database session and customer, and the reader's language."""
