"""Passwords (bcrypt), access tokens (JWT) and login throttling."""
