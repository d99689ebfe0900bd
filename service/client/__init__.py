"""The client side of the contract, for the command line: send commands and wait for their
outcomes, read topics from a chosen start, inspect and redrive dead letters."""
