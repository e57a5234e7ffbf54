"""Serving the API, validating run specs and counting their parameters import no torch
(the routes use the torch-free trainer.spec and trainer.accounting only); and the import route's
multipart reader."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import sys

import pytest
from app.main import create_app
from app.settings import Settings
from app import specs
create_app(Settings(database_url="sqlite:///:memory:"))
spec = specs.validate_spec({"n_layer": 1, "d_model": 16, "n_head": 2, "seq_len": 32, "tokens": 4096,
                            "batch_tokens": 256, "lr": 1e-3, "data": "synthetic:markov"})
assert specs.accounting(spec)["n_params"] > 0
print("torch" in sys.modules)
"""


def test_api_and_spec_validation_do_not_import_torch():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# The import route's multipart reader (app/api/routes/imports.py, python-multipart's streaming parser)
# streams a part out of a spooled body in chunks: a delimiter split across two chunks must still end the part, byte for byte.


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> tuple[bytes, str]:
    body = b""
    for name, content in parts:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 16])
def test_the_file_part_is_read_whole_whatever_the_chunk_size(monkeypatch, chunk):
    import io

    from app.api.routes import imports

    monkeypatch.setattr(imports, "CHUNK", chunk)
    content = b"N,D,loss\r\n" + b"".join(f"{i}e6,2e7,3.{i}\r\n".encode() for i in range(200))
    body, content_type = _multipart([("note", b"--b0undar not quite\r\n"), ("file", content), ("x", b"y")])
    assert imports._multipart_file(io.BytesIO(body), content_type).read() == content


def test_a_multipart_body_without_a_file_part_or_cut_short_is_refused():
    import io

    from app.api.routes import imports
    from app.errors import InvalidInput

    body, content_type = _multipart([("other", b"N,D,loss\n")])
    with pytest.raises(InvalidInput, match="no part named 'file'"):
        imports._multipart_file(io.BytesIO(body), content_type)
    body, content_type = _multipart([("file", b"N,D,loss\n" * 50)])
    with pytest.raises(InvalidInput, match="cut short"):
        imports._multipart_file(io.BytesIO(body[:-30]), content_type)
    with pytest.raises(InvalidInput, match="cut short"):
        imports._multipart_file(io.BytesIO(body[:60]), content_type)
    with pytest.raises(InvalidInput, match="does not parse as form-data with boundary 'b0undary'"):
        imports._multipart_file(io.BytesIO(b"junk"), content_type)
