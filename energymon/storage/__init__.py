"""Storage: the only code that speaks SQL. One schema, SQLite or MySQL/MariaDB underneath."""

from energymon.storage.db import Database

__all__ = ["Database"]
