"""The devserver: control plane (REST API, state, supervisor) and data plane (scoring router)."""
