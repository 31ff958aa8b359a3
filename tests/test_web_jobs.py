"""The job queue and its JSON API: each command run as a job on real files, requests
refused before anything is queued, the token, cancelling (queued, and running as Ctrl-C
stops it), one job at a time, and jobs that outlive serve."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from media import make_jpeg
from starlette.testclient import TestClient
from web import TOKEN, client, submit, wait

from photoorganiser.core.progress import SINK_ENV, Progress
from photoorganiser.web.jobs import _eta

DATE = "2021:06:07 08:09:10"


def photos(folder: Path, n: int, *, first: int = 0, size: tuple[int, int] = (32, 24)) -> list[Path]:
    return [
        make_jpeg(
            folder / f"IMG_{i:04d}.jpg",
            f"2021:06:07 08:{i // 60 % 60:02d}:{i % 60:02d}",
            seed=i,
            size=size,
        )
        for i in range(first, first + n)
    ]


def run(c: TestClient, command: str, **options: object) -> dict:
    job = wait(c, submit(c, command, **options))
    assert job["status"] == "done", (job, c.get(f"/api/jobs/{job['id']}/log").text)
    assert job["exit_code"] == 0 and job["error"] is None
    assert job["report_exists"]
    return job


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ".photoorganiser" not in p.parts)


def rows_of(c: TestClient, job: dict) -> list[dict]:
    r = c.get(f"/api/jobs/{job['id']}/report", params={"format": "json"})
    assert r.status_code == 200, r.text
    return r.json()["rows"]


# --- each command ------------------------------------------------------------------------


def test_import_apply_copy_undo_and_sync(tmp_path: Path) -> None:
    lib, inbox, phone = tmp_path / "lib", tmp_path / "inbox", tmp_path / "phone"
    lib.mkdir()
    photos(inbox, 3)
    photos(phone, 2, first=10)
    before = {p: p.read_bytes() for p in media_files(inbox)}
    with client(lib) as c:
        # an import from the API is a dry run: the plan, the library untouched
        plan = run(c, "import", inputs=[str(inbox)], workers=1)
        assert "--dryrun" in plan["argv"]
        assert f"--output={lib}" in plan["argv"]
        assert plan["report"] == f"0:import-{plan['id']}.csv"
        assert plan["report_path"] == str(lib / ".photoorganiser/reports" / plan["report"][2:])
        assert media_files(lib) == []
        assert {p: p.read_bytes() for p in media_files(inbox)} == before
        assert [r["status"] for r in rows_of(c, plan)] == ["planned"] * 3
        r = c.get(f"/api/jobs/{plan['id']}/report")
        assert r.headers["content-type"].startswith("text/csv")
        assert r.text.splitlines()[0].startswith("# photoorganiser report,")
        assert r.content == Path(plan["report_path"]).read_bytes()
        lines = r.text.splitlines()[1:]
        assert list(csv.DictReader(io.StringIO("\n".join(lines)))) == rows_of(c, plan)

        # apply the plan made by that job, by its ref
        applied = run(c, "apply", report=plan["report"], workers=1)
        assert media_files(inbox) == []
        assert sorted(p.read_bytes() for p in media_files(lib)) == sorted(before.values())

        # "dryrun": false imports (here a copy: the phone keeps its files)
        phone_before = {p: p.read_bytes() for p in media_files(phone)}
        imported = run(c, "import", inputs=[str(phone)], dryrun=False, copy=True, workers=1)
        assert "--dryrun" not in imported["argv"] and "--copy" in imported["argv"]
        assert len(media_files(lib)) == 5
        assert {p: p.read_bytes() for p in media_files(phone)} == phone_before
        assert imported["stage"] == "copy" and imported["done"] == imported["total"] == 2

        # undo (the last run: that import): its copies leave the library
        preview = run(c, "undo", dryrun=True)
        assert len(media_files(lib)) == 5
        assert "--dryrun" in preview["argv"]
        undone = run(c, "undo")
        assert sorted(p.read_bytes() for p in media_files(lib)) == sorted(before.values())
        assert {p: p.read_bytes() for p in media_files(phone)} == phone_before
        assert any(r.get("status") == "done" for r in rows_of(c, undone))

        # sync: a file added by hand is found
        shutil.copy(phone / "IMG_0010.jpg", lib / "by-hand.jpg")
        synced = run(c, "sync", workers=1)
        assert [r["change"] for r in rows_of(c, synced)] == ["added"]

        listed = c.get("/api/jobs").json()
        assert [j["id"] for j in listed] == [
            synced["id"],
            undone["id"],
            preview["id"],
            imported["id"],
            applied["id"],
            plan["id"],
        ]
        for job in listed:
            assert {"id", "command", "status", "stage", "done", "total", "eta_s", "report"} <= set(
                job
            )


def test_find_duplicates_then_dedupe_into_quarantine(tmp_path: Path) -> None:
    lib, pics, quarantine = tmp_path / "lib", tmp_path / "pics", tmp_path / "quarantine"
    lib.mkdir()
    original = make_jpeg(pics / "IMG_1.jpg", DATE, seed=1)
    copy = pics / "old" / "IMG_1 (1).jpg"
    copy.parent.mkdir()
    shutil.copy2(original, copy)
    unique = make_jpeg(pics / "IMG_2.jpg", DATE, seed=2)
    with client(lib) as c:
        found = run(c, "find-duplicates", inputs=[str(pics)], workers=1)
        assert found["report"] == f"0:find-duplicates-{found['id']}.csv"
        rows = {Path(r["path"]).name: r for r in rows_of(c, found)}
        assert rows["IMG_1.jpg"]["keep"] == "yes" and rows["IMG_1 (1).jpg"]["keep"] == "no"
        assert os.path.exists(copy)  # find-duplicates changes nothing

        plan = run(c, "dedupe", report=found["report"], quarantine=str(quarantine), dryrun=True)
        assert os.path.exists(copy)
        assert [r["status"] for r in rows_of(c, plan) if r["path"] == str(copy)] == ["planned"]
        # by its absolute path this time (a report in a report folder may be read)
        done = run(c, "dedupe", report=found["report_path"], quarantine=str(quarantine), workers=1)
        assert not os.path.exists(copy)
        assert (quarantine / str(copy).lstrip("/")).read_bytes() == original.read_bytes()
        assert original.exists() and unique.exists()
        assert [r["status"] for r in rows_of(c, done) if r["path"] == str(copy)] == ["done"]
        assert f"--report={lib}/.photoorganiser/reports/dedupe-{done['id']}.csv" in done["argv"]

        # and undone: the quarantined copy goes back (a dedupe's undo takes no library)
        back = run(c, "undo", quarantine=str(quarantine))
        assert not [a for a in back["argv"] if a.startswith("--output")]
        assert copy.read_bytes() == original.read_bytes()

        # a JSON find-duplicates report is served as written
        as_json = run(c, "find-duplicates", inputs=[str(pics)], format="json", workers=1)
        r = c.get(f"/api/jobs/{as_json['id']}/report")
        assert r.headers["content-type"].startswith("application/json")
        assert r.json() == json.loads(Path(as_json["report_path"]).read_text())


def test_a_failing_command_says_its_one_line(tmp_path: Path) -> None:
    lib, report = tmp_path / "lib", tmp_path / "lib" / ".photoorganiser" / "reports"
    report.mkdir(parents=True)
    # a find-duplicates report is not an import plan: apply refuses it (exit 2)
    shutil.copy(_duplicates_report(tmp_path), report / "dups.csv")
    with client(lib) as c:
        job = wait(c, submit(c, "apply", report="0:dups.csv"))
        assert job["status"] == "failed" and job["exit_code"] == 2
        assert "error" in job["error"] and "\n" not in job["error"]
        assert "error" in c.get(f"/api/jobs/{job['id']}/log").text
        # a job that cannot be started at all fails with the reason
        c.app.state.web.jobs._python = str(tmp_path / "no-python")
        job = wait(c, submit(c, "sync"))
        assert job["status"] == "failed" and "cannot start the job" in job["error"]
        assert job["exit_code"] is None


def _duplicates_report(tmp_path: Path) -> Path:
    pics = tmp_path / "dups"
    make_jpeg(pics / "a.jpg", DATE, seed=3)
    shutil.copy(pics / "a.jpg", pics / "b.jpg")
    out = tmp_path / "dups.csv"
    command = "find-duplicates", "--input", str(pics), "--report", str(out), "--quiet"
    done = subprocess.run([sys.executable, "-m", "photoorganiser", *command], capture_output=True)
    assert done.returncode == 0, done.stderr
    return out


# --- refused requests ------------------------------------------------------------------


def test_bad_requests_are_refused_before_anything_is_queued(tmp_path: Path) -> None:
    lib, elsewhere = tmp_path / "lib", tmp_path / "elsewhere"
    reports = lib / ".photoorganiser" / "reports"
    reports.mkdir(parents=True)
    elsewhere.mkdir()
    outside_report = _duplicates_report(tmp_path)  # a real report, outside every root
    os.symlink(outside_report, reports / "link.csv")
    inbox = str(tmp_path)
    bad = [
        (400, {"command": "rm -rf"}),
        (400, {"inputs": [inbox]}),
        (400, {"command": "serve"}),
        (400, {"command": "import", "inputs": [inbox], "output": "/tmp/other"}),
        (400, {"command": "import", "inputs": [inbox], "report": "/tmp/r.csv"}),
        (400, {"command": "import", "inputs": [inbox], "quiet": True}),
        (400, {"command": "import", "inputs": [inbox], "workers": "2"}),
        (400, {"command": "import", "inputs": [inbox], "workers": 0}),
        (400, {"command": "import", "inputs": [inbox], "dryrun": "false"}),
        (400, {"command": "import", "inputs": inbox}),
        (400, {"command": "import", "inputs": []}),
        (400, {"command": "import"}),
        (400, {"command": "import", "inputs": ["inbox"]}),
        (400, {"command": "import", "inputs": ["../inbox"]}),
        (400, {"command": "import", "inputs": [f"{inbox}/../.."]}),
        (400, {"command": "import", "inputs": [inbox], "move": True, "copy": True}),
        (400, {"command": "find-duplicates", "inputs": [inbox], "format": "xml"}),
        (400, {"command": "find-duplicates", "inputs": [inbox], "unique": True}),
        (400, {"command": "dedupe", "report": "0:x.csv"}),
        (400, {"command": "dedupe", "report": "0:x.csv", "delete": True}),
        (400, {"command": "dedupe", "report": "0:x.csv", "quarantine": "q"}),
        (400, {"command": "dedupe", "report": "0:x.csv", "trash": True, "hardlink": True}),
        (400, {"command": "apply", "report": "0:../secret.csv"}),
        (400, {"command": "apply", "report": "0:sub/plan.csv"}),
        (400, {"command": "apply", "report": "plan.csv"}),
        (400, {"command": "apply", "report": "x:plan.csv"}),
        (400, {"command": "apply"}),
        (404, {"command": "apply", "report": "0:nothing.csv"}),
        (404, {"command": "apply", "report": "7:plan.csv"}),
        (404, {"command": "apply", "report": "0:link.csv"}),  # a link in a report folder
        (403, {"command": "apply", "report": str(outside_report)}),
        (403, {"command": "apply", "report": "/etc/passwd"}),
        (403, {"command": "apply", "report": str(reports / "link.csv")}),
        (403, {"command": "apply", "report": f"{reports}/../../x.csv"}),
        (400, {"command": "undo", "run": "--output=/elsewhere"}),
        (400, {"command": "undo", "run": "a/../b"}),
        (400, {"command": "undo", "quarantine": str(elsewhere), "journal": True}),
        (400, {"command": "sync", "rebuild": 1}),
    ]
    with client(lib) as c:
        for status, body in bad:
            r = c.post("/api/jobs", json=body)
            assert r.status_code == status, (body, r.status_code, r.text)
            assert set(r.json()) == {"error"} and "\n" not in r.json()["error"], r.text
        for body in (
            b"not json",
            b"[1, 2]",
            b'"sync"',
            b'{"command": "import", "inputs": ["/x"], "settle": NaN}',
        ):
            r = c.post("/api/jobs", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400 and "error" in r.json()
        assert c.get("/api/jobs").json() == []
        described = c.get("/api/commands").json()
        assert set(described) == {
            "import",
            "apply",
            "find-duplicates",
            "dedupe",
            "sync",
            "undo",
            "verify",
            "export",
        }
        assert "required" in described["import"]["fields"]["inputs"]
        assert "default true" in described["import"]["fields"]["dryrun"]
        assert not (lib / ".photoorganiser" / "jobs").exists() or not [
            p for p in (lib / ".photoorganiser" / "jobs").iterdir() if p.suffix == ".json"
        ]
        for path in (
            "/api/jobs/nope",
            "/api/jobs/..%2F..%2Fetc%2Fpasswd",
            "/api/jobs/20260101-000000-abcd",
            "/api/jobs/20260101-000000-abcd/report",
            "/api/jobs/20260101-000000-abcd/log",
        ):
            assert c.get(path).status_code == 404, path
        assert c.delete("/api/jobs/20260101-000000-abcd").status_code == 404


def test_the_api_needs_the_token_and_changes_need_the_header(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with client(lib, start_jobs=False) as c:
        job_id = submit(c, "sync")
    with client(lib, auth=False, start_jobs=False) as c:
        for path in ("/api/jobs", f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/report"):
            assert c.get(path).status_code == 401
        assert c.post("/api/jobs", json={"command": "sync"}).status_code == 401
        assert c.delete(f"/api/jobs/{job_id}").status_code == 401
        # the token in the query reads, never changes
        assert c.get(f"/api/jobs/{job_id}?token={TOKEN}").json()["status"] == "queued"
        assert c.post(f"/api/jobs?token={TOKEN}", json={"command": "sync"}).status_code == 403
        assert c.delete(f"/api/jobs/{job_id}?token={TOKEN}").status_code == 403
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        r = c.post(
            "/api/jobs",
            json={"command": "sync"},
            headers=bearer | {"Origin": "http://evil.example"},
        )
        assert r.status_code == 403
        assert len(c.get(f"/api/jobs?token={TOKEN}").json()) == 1


# --- cancel, one at a time, restart ------------------------------------------------------


def test_cancel_a_queued_job_and_a_running_one(tmp_path: Path) -> None:
    COUNT = 600  # noqa: N806 - copies go 64 a batch, two batches open: a cancel ends after some
    lib, inbox = tmp_path / "lib", tmp_path / "inbox"
    lib.mkdir()
    with client(lib, start_jobs=False) as c:  # nothing runs: the job stays queued
        queued = submit(c, "sync")
        r = c.delete(f"/api/jobs/{queued}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert c.delete(f"/api/jobs/{queued}").status_code == 409

    photos(inbox, COUNT, size=(16, 16))  # enough that the copy is still going when cancelled
    before = {p.name: p.read_bytes() for p in media_files(inbox)}
    with client(lib) as c:
        assert c.get(f"/api/jobs/{queued}").json()["status"] == "cancelled"  # never started
        slow = submit(c, "import", inputs=[str(inbox)], dryrun=False, copy=True, workers=1)
        after = submit(c, "sync", workers=1)
        # cancel as soon as it has copied one file
        wait(c, slow, until=("running",))
        deadline = time.monotonic() + 20
        while not [p for p in media_files(lib) if "po-tmp" not in p.name]:
            assert time.monotonic() < deadline, c.get(f"/api/jobs/{slow}").json()
            # one at a time: the second job waits for the first
            assert c.get(f"/api/jobs/{after}").json()["status"] == "queued"
            time.sleep(0.002)
        r = c.delete(f"/api/jobs/{slow}")
        assert r.status_code == 202 and r.json()["cancel_requested"]
        job = wait(c, slow)
        assert job["status"] == "cancelled", job
        assert job["exit_code"] == 130 and job["report_exists"]
        assert job["stage"] == "copy" and job["total"] == COUNT and job["done"] < COUNT
        assert c.delete(f"/api/jobs/{slow}").status_code == 409
        second = wait(c, after)
        assert second["status"] == "done" and second["started"] >= job["finished"]

        # the report says what was done and what was not; every file is where it says,
        # once: the inbox untouched, each copy in the library whole
        rows = rows_of(c, job)
        statuses = [r["status"] for r in rows]
        assert len(rows) == COUNT and set(statuses) == {"done", "not-done"}, set(statuses)
        copied = media_files(lib)
        assert 0 < len(copied) == statuses.count("done") < COUNT
        assert {p.name: p.read_bytes() for p in media_files(inbox)} == before
        contents = [p.read_bytes() for p in copied]
        assert len(set(contents)) == len(contents) and set(contents) <= set(before.values())
        assert not [p for p in lib.rglob("*") if "po-tmp" in p.name]


def _run_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def test_jobs_outlive_serve_and_are_listed_after_a_restart(tmp_path: Path) -> None:
    lib, inbox = tmp_path / "lib", tmp_path / "inbox"
    jobs = lib / ".photoorganiser" / "jobs"
    lib.mkdir()
    photos(inbox, 20, size=(16, 16))
    with client(lib) as c:
        first = run(c, "sync")
        running = submit(c, "import", inputs=[str(inbox)], dryrun=False, copy=True, workers=1)
        wait(c, running, until=("running",))
        # the command is held still while serve restarts (so it is surely running then)
        deadline = time.monotonic() + 10
        while (child := _run_record(jobs / f"{running}.run.json").get("child")) is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(child, signal.SIGSTOP)
    try:
        # serve stopped with a job running; another serve, with jobs off, queues one
        with client(lib, start_jobs=False) as c:
            assert c.get(f"/api/jobs/{running}").json()["status"] == "running"
            queued = submit(c, "sync")
            lost = submit(c, "sync")
    finally:
        os.kill(child, signal.SIGCONT)
    # a job left "running" whose processes are gone (the machine stopped)
    record = lib / ".photoorganiser" / "jobs" / f"{lost}.json"
    data = json.loads(record.read_text())
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    data.update(status="running", pid=gone.pid, pid_start=1)
    record.write_text(json.dumps(data))
    with client(lib) as c:
        listed = {j["id"]: j for j in c.get("/api/jobs").json()}
        assert listed[first["id"]]["status"] == "done"
        assert set(listed) == {first["id"], running, queued, lost}
        job = wait(c, running)
        assert job["status"] == "done" and job["exit_code"] == 0, job
        assert len(media_files(lib)) == 20
        assert wait(c, queued)["status"] == "done"
        failed = wait(c, lost)
        assert failed["status"] == "failed" and "stopped during the job" in failed["error"]


# --- the progress sink ------------------------------------------------------------------


def test_progress_writes_its_stage_to_the_file_named_by_the_environment(
    tmp_path: Path, monkeypatch
) -> None:
    sink = tmp_path / "progress.json"
    with Progress("analyse", 3, enabled=False) as bar:
        bar.advance()
    assert not sink.exists()  # the variable unset: nothing written
    monkeypatch.setenv(SINK_ENV, str(sink))
    with Progress("analyse", 3, enabled=False) as bar:
        first = json.loads(sink.read_text())
        assert first["stage"] == "analyse" and first["done"] == 0 and first["total"] == 3
        assert abs(first["started"] - time.time()) < 60
        for _ in range(3):
            bar.advance()
    assert json.loads(sink.read_text()) | {"started": 0} == {
        "stage": "analyse",
        "done": 3,
        "total": 3,
        "started": 0,
    }
    assert os.listdir(tmp_path) == ["progress.json"]  # no temporary file left


def test_eta_is_the_rest_of_the_stage_at_its_rate_so_far() -> None:
    now = time.time()
    assert _eta(None, None, None) is None
    assert _eta(0, 100, now - 5) is None  # no rate yet
    assert _eta(10, None, now - 5) is None  # no total
    assert 40 < _eta(10, 100, now - 5) <= 45  # 10 in 5 s: 90 more in 45 s
    assert _eta(100, 100, now - 5) == 0.0


def test_verify_as_a_job_finds_bit_rot(tmp_path: Path) -> None:
    inbox, lib = tmp_path / "in", tmp_path / "lib"
    photos(inbox, 3)
    lib.mkdir()
    with client(lib) as c:
        run(c, "import", inputs=[str(inbox)], dryrun=False)
        job = run(c, "verify", sample=100)
        assert {r["result"] for r in rows_of(c, job)} == {"ok"}
        victim = media_files(lib)[0]
        st = victim.stat()
        data = bytearray(victim.read_bytes())
        data[-5] ^= 0x55
        victim.write_bytes(bytes(data))
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        job = wait(c, submit(c, "verify"))
        assert job["status"] == "done" and job["exit_code"] == 1  # a problem: see the report
        results = {Path(r["path"]).name: r["result"] for r in rows_of(c, job)}
        assert results[victim.name] == "changed"
        assert c.post("/api/jobs", json={"command": "verify", "older_than": -1}).status_code == 400


def test_export_as_a_job_then_undo_it(tmp_path: Path) -> None:
    inbox, lib, out = tmp_path / "in", tmp_path / "lib", tmp_path / "smaller"
    photos(inbox, 3, size=(400, 300))
    lib.mkdir()
    with client(lib) as c:
        run(c, "import", inputs=[str(inbox)], dryrun=False)
        job = run(c, "export", to=str(out), format="webp", max_size="100x100")
        made = sorted(p for p in out.rglob("*.webp"))
        assert len(made) == 3 and {r["status"] for r in rows_of(c, job)} <= {"done", "exported"}
        run(c, "undo", export=str(out))
        assert list(out.rglob("*.webp")) == []
        assert len(media_files(lib)) == 3  # the library untouched all along
