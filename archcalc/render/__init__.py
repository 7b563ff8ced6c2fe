"""Renderers: turn a Report into text. Only the table renderer imports rich."""
