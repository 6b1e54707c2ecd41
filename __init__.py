"""DermLedger: a signed, event-sourced record of a clinically verified dermoscopic image study."""

__version__ = "0.1.0"
