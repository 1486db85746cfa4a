"""lapor-es: event-sourced complaint workflow engine."""
