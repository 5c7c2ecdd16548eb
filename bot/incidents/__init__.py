"""When things go wrong (应急预案): urgent words that page the supervisors."""
