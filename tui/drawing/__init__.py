"""What panes share to draw: theme colours, restyling on a CSS change, value axes."""
