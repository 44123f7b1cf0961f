"""migrate: turn LLM model migration from a fire drill into a calendar event."""

__version__ = "0.1.0"
