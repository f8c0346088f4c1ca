"""Business logic as plain functions: they change objects and flush, the caller commits."""
