"""GitHub: webhook intake, the comment grammar, rendering of what the thread shows, and every GitHub call."""
