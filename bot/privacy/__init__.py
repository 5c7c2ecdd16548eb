"""A customer's data on request (a copy, erasure), texts kept so long, staff access audited."""
