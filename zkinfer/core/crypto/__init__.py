"""Digests, BLS node identity, SRS files and their fingerprints, polynomial-commitment links."""
