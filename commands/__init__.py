"""The typer application: one module per command group; thin."""
