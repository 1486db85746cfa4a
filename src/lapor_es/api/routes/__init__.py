"""One APIRouter per concern: commands, complaints, agencies (directory and inboxes), the
national desk, statistics, operations."""
