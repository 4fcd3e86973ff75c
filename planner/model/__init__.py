"""Single-run model: architecture arithmetic, memory and step time, calibration, priors, bands, step-time providers, predict."""
