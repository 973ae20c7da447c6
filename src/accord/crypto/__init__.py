"""Cryptography: keys, canonical JSON, envelopes, Merkle log, signed notes."""
