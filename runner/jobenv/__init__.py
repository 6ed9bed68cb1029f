"""What a running job sees: its file store, its directories, containers, memory measurement, secrets."""
