"""The reading station (`dermledger serve`): Starlette routes over the study's services."""
