"""The REST API: dependencies (deps.py), error mapping (errors.py), schemas and one router per resource."""
