"""Read models rebuilt from events; they never decide."""
