"""Services: the rules (who may see what, what is allowed), free of any transport."""
