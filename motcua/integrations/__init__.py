"""Adapters to the outside world, each behind a small interface with a working offline/demo
implementation (DOMAIN.md "Beyond the desk")."""
