"""The `dermledger` console script's entry point, light on purpose.

The generated script imports this module at its top level, and every worker process that
`multiprocessing` spawns (an import's measuring pool, `audit verify --workers`) runs the
script's top level again before its first task. Importing the whole command line there
(typer, rich, every service: about 2 s of CPU) cost each worker more than measuring
300 images; here the command line is imported only when the script actually runs it.
"""

from __future__ import annotations


def run() -> None:
    """Console-script entry point: the command line of `dermledger.commands.main`."""
    from dermledger.commands.main import run as run_cli

    run_cli()
