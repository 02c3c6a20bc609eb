"""The energymon meter emulator: many simulated smart meters in one asyncio process."""
