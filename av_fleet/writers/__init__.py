"""Output formats of the synthetic fleet (bags today; more loggers later)."""
