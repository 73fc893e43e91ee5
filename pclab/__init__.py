"""Provisioned Concurrency Lab.

What do Lambda cold starts cost, and does provisioned concurrency fix them?
"""

__version__ = "0.1.0"
