"""WTForms of the module; each form only validates input, services do the work."""
