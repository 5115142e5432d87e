"""Who saw which citizen's dossier, and who changed the catalogue and settings."""
