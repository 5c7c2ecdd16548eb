"""Time: business hours, the stored schedule of messages, the scheduler of timed jobs."""
