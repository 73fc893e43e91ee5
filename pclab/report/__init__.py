"""Rendering of the analysis model: terminal table, report.json, report.html, PNG charts."""
