"""The managers' web console: sign-in by one-time link, and pages of reports, tickets, the
knowledge base and its gaps, served by the one web application under /console."""
