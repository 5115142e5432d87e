"""Online fee payments (the national payment gateway adapter, a demo gateway)."""
