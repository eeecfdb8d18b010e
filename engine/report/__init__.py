"""What the engine says about a run, for people and for programs.

Explanations (the chain rule with its numbers), the trace writers and the numbers they
write (:mod:`engine.report.json_numbers`), gradient checks, diagnoses (non-finite numbers,
gradient health), views of the data space (:mod:`engine.report.landscape`), and the one
number format they share.
"""
