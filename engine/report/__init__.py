"""What is made from a run for people and programs: for now, the trace's numbers
(:mod:`engine.report.json_numbers`); the trace writers join them here later."""
