"""Synthetic /proc with Linux's byte formats."""
