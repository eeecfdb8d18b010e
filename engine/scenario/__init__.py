"""Scenarios: what a scenario file may say, and reading one.

The records (:class:`Scenario` and its parts) and the limits every file is held to,
the generic checks of values and places, the loader that turns TOML into records, and
the data sets and data files a scenario trains on. Nothing here runs a model.
"""
