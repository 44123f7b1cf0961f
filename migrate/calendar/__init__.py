"""The calendar feed: events from the registry and schedule, rendered as ICS."""
