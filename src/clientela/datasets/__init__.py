"""Demo data: a deterministic, streaming generator of the Northwind Loom world (see ``demo``)."""
