"""The litestar HTTP adapter."""
