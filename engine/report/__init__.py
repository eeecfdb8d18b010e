"""What the engine says about a run, for people and for programs.

Explanations (the chain rule with its numbers), the trace writers, gradient checks,
diagnoses (non-finite numbers, gradient health) and the one number format they share.
"""
