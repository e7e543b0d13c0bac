"""The jobs admin API at /api/admin/jobs: admins only, problem+json errors, and bad input
changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from platform_core.identity.users import create_user
from tests.conftest import issue_token
from tests.jobs.conftest import FLAKY, all_jobs, enqueue_flaky, make_due

FLAKY_ATTEMPTS = FLAKY.max_attempts

PROBLEM = "application/problem+json"


@pytest.fixture
def api(jobs_app, db):
    client = jobs_app.test_client()

    class Api:
        def token_of(self, role: str) -> dict[str, str]:
            user = create_user(db, email=f"{role}@example.org", password=None, role=role)
            token = issue_token(
                jobs_app,
                "openid",
                client_id="admin-console",
                user_id=user.id,
                generation=user.token_generation,
            )
            return {"Authorization": f"Bearer {token}"}

        def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
            return client.get(path, headers=headers or {})

        def post(self, path: str, headers: dict[str, str] | None = None) -> Any:
            return client.post(path, headers=headers or {})

    return Api()


@pytest.fixture
def admin(api) -> dict[str, str]:
    return api.token_of("admin")


@pytest.fixture
def failed_job(jobs, db, tmp_path: Path) -> tuple[int, Path]:
    """A flaky job run to its last attempt; it passes once its flag file is gone."""
    flag = tmp_path / "flag"
    flag.write_text("up")
    job_id, _, _ = enqueue_flaky(jobs, db, flag, "admin-api")
    for _ in range(FLAKY_ATTEMPTS - 1):
        make_due(db, job_id)
        jobs.run(job_id)
    assert jobs.get(job_id).state == "failed"
    return job_id, flag


def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_no_token_is_401(api, failed_job):
    for resp in (
        api.get("/api/admin/jobs"),
        api.get(f"/api/admin/jobs/{failed_job[0]}"),
        api.post(f"/api/admin/jobs/{failed_job[0]}/retry"),
    ):
        problem(resp, 401)
    assert api.get("/api/admin/jobs", {"Authorization": "Bearer nonsense"}).status_code == 401


@pytest.mark.parametrize("role", ["patient", "practitioner", "pharmacist", "guardian"])
def test_other_roles_are_403(api, db, failed_job, role):
    before = all_jobs(db)
    headers = api.token_of(role)
    problem(api.get("/api/admin/jobs", headers), 403)
    problem(api.post(f"/api/admin/jobs/{failed_job[0]}/retry", headers), 403)
    assert all_jobs(db) == before


def test_a_backend_token_without_a_user_is_403(api, jobs_app, db, failed_job):
    before = all_jobs(db)
    headers = {"Authorization": f"Bearer {issue_token(jobs_app)}"}
    problem(api.post(f"/api/admin/jobs/{failed_job[0]}/retry", headers), 403)
    assert all_jobs(db) == before


def test_an_admin_lists_failed_jobs_and_sees_one(api, admin, failed_job):
    job_id, _ = failed_job
    listed = api.get("/api/admin/jobs?state=failed", admin)
    assert listed.status_code == 200
    body = listed.get_json()
    assert (body["limit"], body["offset"]) == (50, 0)
    assert [j["id"] for j in body["jobs"]] == [job_id]
    assert body["jobs"][0]["state"] == "failed" and body["jobs"][0]["attempts"] == 3
    assert api.get("/api/admin/jobs?state=done", admin).get_json()["jobs"] == []
    assert api.get("/api/admin/jobs?offset=1", admin).get_json()["jobs"] == []

    one = api.get(f"/api/admin/jobs/{job_id}", admin)
    assert one.status_code == 200
    job = one.get_json()
    assert job["name"] == "test.flaky" and "flag is up" in job["last_error"]
    assert job["payload"]["tag"] == "admin-api" and job["finished_at"].endswith("Z")


def test_a_super_admin_retries_a_failed_job(api, failed_job, effects):
    job_id, flag = failed_job
    flag.unlink()
    resp = api.post(f"/api/admin/jobs/{job_id}/retry", api.token_of("super_admin"))
    assert resp.status_code == 200
    assert resp.get_json()["state"] == "done" and resp.get_json()["attempts"] == 1
    assert effects("admin-api") == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/admin/jobs?state=stuck", 400),
        ("GET", "/api/admin/jobs?limit=0", 400),
        ("GET", "/api/admin/jobs?limit=501", 400),
        ("GET", "/api/admin/jobs?offset=-1", 400),
        ("GET", "/api/admin/jobs?limit=ten", 400),
        ("GET", "/api/admin/jobs/abc", 400),
        ("GET", "/api/admin/jobs/-3", 400),
        ("POST", "/api/admin/jobs/abc/retry", 400),
        ("GET", "/api/admin/jobs/999999", 404),
        ("POST", "/api/admin/jobs/999999/retry", 404),
    ],
)
def test_bad_input_is_answered_clearly_and_changes_nothing(
    api, admin, db, failed_job, method, path, status
):
    before = all_jobs(db)
    resp = api.get(path, admin) if method == "GET" else api.post(path, admin)
    body = problem(resp, status)
    if "state=stuck" in path:
        assert "state" in body["errors"]["query"]
    assert all_jobs(db) == before


def test_retrying_a_job_that_is_not_failed_is_409(api, admin, jobs, db, effects, failed_job):
    job_id, flag = failed_job
    flag.unlink()
    assert api.post(f"/api/admin/jobs/{job_id}/retry", admin).status_code == 200
    before = all_jobs(db)
    body = problem(api.post(f"/api/admin/jobs/{job_id}/retry", admin), 409)
    assert body["state"] == "done" and "only a failed job" in body["detail"]
    assert all_jobs(db) == before
    assert effects("admin-api") == 1


def test_the_api_is_in_the_openapi_document(jobs_app):
    spec = jobs_app.test_client().get("/api/openapi.json").get_json()
    assert {"/api/admin/jobs", "/api/admin/jobs/{job_id}", "/api/admin/jobs/{job_id}/retry"} <= set(
        spec["paths"]
    )
