"""energymon."""
