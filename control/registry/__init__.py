"""The registry of versioned artefacts: providers, prompt and model versions, releases, and the
declarative registry file. Validation rules here are pure; writes go through `control.store`."""
