"""Environment variables through which a runtime tells the worker what to serve and how."""

SCORING_MODE = "EPDEV_SCORING"
""""mlflow" to serve the MLflow model under AZUREML_MODEL_DIR; else the scoring script."""
MLFLOW = "mlflow"

MAX_BATCH_SIZE = "EPDEV_MAX_BATCH_SIZE"
"""The most requests one predict call merges (MLflow models); 1 turns batching off."""
MAX_LATENCY_MS = "EPDEV_MAX_LATENCY_MS"
"""How long the oldest request of a batch may wait for others to join it, in milliseconds."""
