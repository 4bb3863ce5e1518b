"""Accounts and authentication: passwords, access and refresh tokens, throttling, views."""
