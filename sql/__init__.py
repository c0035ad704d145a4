"""The SQL files, shipped inside the package as dnis_service.sql (see pyproject.toml)."""
