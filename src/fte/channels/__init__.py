"""Channel adapters: the only code that knows a provider's wire format."""
