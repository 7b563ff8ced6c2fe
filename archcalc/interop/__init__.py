"""Importers and exporters between archcalc and other frameworks."""
