"""Dialogs, each with its own ``.tcss`` beside it, and the few widgets they share.

A dialog returns what was chosen through its result (or posts a message); it never
writes the app's state.
"""
