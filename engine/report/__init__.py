"""What is made from a run for people and programs besides its events: the trace's
numbers (:mod:`engine.report.json_numbers`) and views of the data space
(:mod:`engine.report.landscape`)."""
