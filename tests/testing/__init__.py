"""Tests of the offline testing helpers (the Kibo emulator)."""
