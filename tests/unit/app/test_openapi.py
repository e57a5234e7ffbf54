"""Every route of the OpenAPI document carries an example (request body or success response)."""

from __future__ import annotations

from app.main import create_app
from app.settings import Settings

MEDIA = ("application/json", "text/csv", "text/plain", "multipart/form-data")


def _has_example(node, schemas) -> bool:
    if isinstance(node, list):
        return any(_has_example(item, schemas) for item in node)
    if not isinstance(node, dict):
        return False
    if "example" in node or "examples" in node:
        return True
    if "$ref" in node:
        return "examples" in schemas.get(node["$ref"].rsplit("/", 1)[-1], {})
    return any(
        _has_example(node[key], schemas)
        for key in ("content", "schema", "items", "anyOf", *MEDIA)
        if key in node
    )


def test_every_route_has_an_example():
    spec = create_app(Settings(database_url="sqlite://")).openapi()
    schemas = spec["components"]["schemas"]
    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = _has_example(operation.get("requestBody", {}), schemas)
            success = any(
                _has_example(r, schemas) for code, r in operation["responses"].items() if code[0] == "2"
            )
            if not (body or success):
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"routes without an example: {missing}"
    assert len(spec["paths"]) >= 14
