"""Core: envelope, hashing, signatures, keys, Merkle log, event store (no dermatology here)."""
