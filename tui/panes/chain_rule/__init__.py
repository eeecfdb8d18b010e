"""The chain-rule pane: the derivation of the current event, and its gradient check."""
