"""Answering from the knowledge base: the answer service and its keyboards."""
