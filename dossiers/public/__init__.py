"""The citizen's side of dossiers, without an account: tracking by code + phone, online
submission. Proof of ownership (code + phone) and its lock-out live in :mod:`proof`."""
