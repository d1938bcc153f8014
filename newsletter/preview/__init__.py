"""`newsletter preview`: the issue rendered in memory, live in the browser, never in dist/."""
