"""What the engine reports about a run besides its events: views of the data space
(:mod:`engine.report.landscape`)."""
