"""Layer 0: number theory and randomness (the only gmpy2 import site and the only PRNGs)."""
