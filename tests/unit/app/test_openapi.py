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


def spec() -> dict:
    return create_app(Settings(database_url="sqlite://")).openapi()


def test_every_schema_field_has_a_description():
    schemas = spec()["components"]["schemas"]
    undescribed = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, properties in schema.get("properties", {}).items()
        if not properties.get("description", "").strip()
    ]
    assert sum(len(s.get("properties", {})) for s in schemas.values()) >= 200
    assert undescribed == [], f"{len(undescribed)} fields without a description: {undescribed}"


ERRORS = {"401", "403", "404", "409", "413", "422", "429"}


def codes(document: dict, method: str, path: str) -> set[str]:
    return set(document["paths"][path][method]["responses"]) & ERRORS


def test_error_answers_are_documented_where_they_can_occur():
    document = spec()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # A write with a body and a path: every error answer.
    for path in (
        "/v1/studies/{study_id}/runs",
        "/v1/studies/{study_id}/sweeps",
        "/v1/studies/{study_id}/fits",
    ):
        assert codes(document, "post", path) == ERRORS, path
        assert document["paths"][path]["post"]["security"] == [{"bearer": []}]
    # A write with a body and no path: nothing to find, so no 404.
    assert codes(document, "post", "/v1/studies") == ERRORS - {"404"}
    # A write without a body: nothing too large.
    assert codes(document, "post", "/v1/runs/{run_id}/cancel") == ERRORS - {"413"}
    # Reads: a token (401/403), a resource (404), bad parameters (422); never 409, 413 or 429.
    for path in ("/v1/studies/{study_id}", "/v1/runs/{run_id}/curve", "/v1/fits/{fit_id}/report"):
        assert codes(document, "get", path) == {"401", "403", "404", "422"}, path
    assert codes(document, "get", "/v1/runs") == {"401", "403", "404", "422"}  # ?study= names one
    assert codes(document, "get", "/v1/studies") == {"401", "403", "422"}
    assert codes(document, "get", "/healthz") == set()  # no token, no parameter

    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                assert response.get("description"), f"{method} {path} {code}"
                if code in ERRORS - {"422"}:
                    assert response["content"] == error, f"{method} {path} {code}"
    assert document["components"]["schemas"]["Error"]["required"] == ["detail"]
