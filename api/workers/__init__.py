"""Background workers that run inside `inboxflow serve` (embedded) or as their own process."""
