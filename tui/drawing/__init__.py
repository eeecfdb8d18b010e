"""What panes share to draw: theme colours, restyling on a CSS change, plot scales and
ticks, and the plot widget the history pane stacks."""
