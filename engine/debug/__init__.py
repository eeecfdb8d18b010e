"""The debugger's engine: the condition language, breakpoints, and the search for hits.

Nothing here lives on a program or a step: breakpoints are records of their own, and
the search reads a timeline.
"""
