"""The timeline: every event of a run in bounded memory, and the runs beside it.

Keyframes of parameters and optimizer state, exact replay of any step, and what-if
branches that start from a step with something changed.
"""
