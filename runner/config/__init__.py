"""The run's configuration: options, their checks, units."""
