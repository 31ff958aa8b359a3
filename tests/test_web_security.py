"""The web app's guard: the token on every request, the host, cross-site changes, and
which files can be read through it (nothing outside the library, the reviewed inputs
and the report folders)."""

from __future__ import annotations

import os
from pathlib import Path

from media import make_jpeg
from web import PORT, TOKEN, client


def test_every_request_needs_the_token(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with client(lib, auth=False) as c:
        for path in ("/", "/static/app.css", "/api/jobs", "/thumb/" + "0" * 32, "/nope"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert "token" in r.text
        assert c.get("/?token=wrong").status_code == 401
        assert c.get(f"/?token={TOKEN}").status_code == 200
        assert c.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_pages_carry_the_token_and_safe_headers(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with client(lib) as c:
        r = c.get("/")
        assert r.status_code == 200
        assert f"/static/app.css?token={TOKEN}" in r.text
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert c.get("/static/app.js").status_code == 200


def test_other_host_names_are_refused(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with client(lib) as c:
        assert c.get("/", headers={"Host": f"evil.example:{PORT}"}).status_code == 403
        assert c.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200


def test_changes_need_the_header_and_the_same_origin(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with client(lib, auth=False) as c:
        # the token in the query is enough to read, never to change
        r = c.post(f"/api/jobs?token={TOKEN}", json={"command": "sync"})
        assert r.status_code == 403
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        r = c.post(
            "/api/jobs",
            json={"command": "nope"},
            headers=bearer | {"Origin": "http://evil.example"},
        )
        assert r.status_code == 403
        r = c.post(
            "/api/jobs", json={"command": "nope"}, headers=bearer | {"Sec-Fetch-Site": "cross-site"}
        )
        assert r.status_code == 403
        r = c.delete("/api/jobs/x", headers={"Origin": f"http://127.0.0.1:{PORT}"})
        assert r.status_code == 401


def test_files_outside_the_library_are_never_served(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / "2024").mkdir(parents=True)
    inside = make_jpeg(lib / "2024" / "a.jpg")
    outside = make_jpeg(tmp_path / "elsewhere" / "b.jpg")
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    os.symlink(outside, lib / "2024" / "link.jpg")
    os.symlink(tmp_path / "elsewhere", lib / "dirlink")
    h = "0" * 32
    with client(lib) as c:
        for bad in (
            str(outside),
            str(secret),
            str(lib / "2024" / ".." / ".." / "secret.txt"),
            str(lib / "2024" / "link.jpg"),
            str(lib / "dirlink" / "b.jpg"),
            "2024/a.jpg",  # not absolute
            "/etc/passwd",
            str(lib / ".photoorganiser" / "catalog.sqlite"),
        ):
            for route in ("/thumb/", "/original/"):
                r = c.get(route + h, params={"path": bad})
                assert r.status_code in (403, 404), (route, bad, r.status_code)
                assert r.content != outside.read_bytes()
        # a path inside the library is allowed through the guard (the hash decides after)
        r = c.get("/original/" + h, params={"path": str(inside)})
        assert r.status_code == 200
        assert r.content == inside.read_bytes()
        assert c.get("/thumb/../../etc/passwd").status_code == 404
        assert c.get("/thumb/" + "z" * 32).status_code == 403


def test_thumbnails_are_made_and_cached_by_content(tmp_path: Path) -> None:
    from photoorganiser.core.hashing import hash_file

    lib = tmp_path / "lib"
    (lib / "2024").mkdir(parents=True)
    photo = make_jpeg(lib / "2024" / "a.jpg", size=(400, 300))
    content = hash_file(photo)
    with client(lib) as c:
        r = c.get(f"/thumb/{content}", params={"path": str(photo), "size": 160})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content[:2] == b"\xff\xd8"
        assert list((lib / ".photoorganiser" / "thumbs").rglob(f"{content}-160.jpg"))
        # the wrong hash for that path: nothing made, an icon
        r = c.get("/thumb/" + "1" * 32, params={"path": str(photo)})
        assert r.headers["content-type"].startswith("image/svg")
        assert c.get(f"/thumb/{content}", params={"size": 100}).status_code == 400
