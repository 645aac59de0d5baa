"""HTTP handlers of the data plane: thin wiring of intake, resolve, apply and forward."""
