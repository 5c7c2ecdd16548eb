"""Tickets and their people: lifecycle, handoff to agents, intake, SLA, staff roles."""
