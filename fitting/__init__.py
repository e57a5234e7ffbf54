"""hyperlaw.fitting: scaling-law fitting on numpy arrays."""
