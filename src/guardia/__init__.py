"""guardia: scrape, store, query, alert and notify in one Python process.

The public surface is deliberately small; each stage of the data flow lives in its
own subpackage (see DESIGN.md) and is imported from there.
"""

__version__ = "0.1.0"
