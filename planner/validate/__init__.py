"""The model and simulator against the calibration set's measurements."""
