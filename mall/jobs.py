"""The mall's periodic jobs (registered with core.jobs at start-up)."""
