"""The rules of the service, free of any protocol."""
