"""`python -m dermledger.commands`: the same CLI as the `dermledger` script."""

from dermledger.commands.main import run

run()
