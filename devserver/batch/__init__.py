"""Batch endpoints and jobs: the registry, the job store, the engines and the job runner."""
