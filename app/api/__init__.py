"""The REST API: dependencies and auth guards (deps.py), error mapping (errors.py), the request guard
that checks a write's token before its body and bounds bodies (guard.py), the per-token write rate
limit (ratelimit.py), schemas and one router per resource."""
