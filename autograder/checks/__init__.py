"""Checks called by the hidden tests: each raises AssertionError with a message meant for the student."""
