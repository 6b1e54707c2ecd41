"""One place that turns failures into exit codes: 1 refused or failed, 2 usage."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import OperationalError, PersistenceError
from typer._click import Context as ClickContext
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from dermledger.ledger.errors import DermLedgerError


class Refused(ClickException):
    """A domain refusal or failure: printed as `Error: <sentence>`, exit 1."""

    exit_code = 1


class DermLedgerGroup(TyperGroup):
    """Root command group: maps DermLedgerError and database faults to exit 1."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except DermLedgerError as exc:
            raise Refused(exc.diagnostics()) from exc
        except (OperationalError, PersistenceError) as exc:
            raise Refused(f"the database cannot be used: {type(exc).__name__}") from exc
        finally:
            obj = ctx.obj
            if obj is not None and hasattr(obj, "close"):
                obj.close()
