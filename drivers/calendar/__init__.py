"""Normalised calendar models and helpers shared by every calendar driver."""
