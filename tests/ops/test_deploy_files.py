"""Deployment files, checked without a Docker engine: compose's own parser, hadolint, and reads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.ops.conftest import REPO, VENV_BIN, procfile

COMPOSE_SECRETS = {
    "SECRET_KEY": "x" * 40,
    "JWT_SECRET_KEY": "y" * 40,
    "BOOKME_ENCRYPTION_KEYS": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
    "POSTGRES_PASSWORD": "compose-test",
}


def _tool(name: str) -> str:
    path = shutil.which(name, path=VENV_BIN) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (dev dependency); run make test to install it")
    try:
        subprocess.run([path, "--version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"{name} cannot run on this machine: {exc}")
    return path


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("docker-compose"), "--project-directory", str(REPO), "-f", "compose.yaml", *args],
        check=False,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def compose_model() -> dict:
    result = _compose("config", "--format", "json", env=COMPOSE_SECRETS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid_for_docker_compose():
    result = _compose("config", "-q", env=COMPOSE_SECRETS)
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets():
    result = _compose("config", "-q", env={})
    assert result.returncode != 0
    for name in ("SECRET_KEY", "JWT_SECRET_KEY", "BOOKME_ENCRYPTION_KEYS", "POSTGRES_PASSWORD"):
        assert name in result.stderr


def test_compose_runs_web_worker_scheduler_on_postgres_16_and_redis_7(compose_model):
    services = compose_model["services"]
    assert {"web", "worker", "scheduler", "postgres", "redis", "migrate"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["worker"]["command"] == ["python", "-m", "bookme.worker", "worker"]
    assert services["scheduler"]["command"] == ["python", "-m", "bookme.worker", "scheduler"]
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"]


def test_compose_services_wait_for_healthy_databases_and_migrations(compose_model):
    services = compose_model["services"]
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "scheduler"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        env = services[name]["environment"]
        assert env["BOOKME_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("postgresql://bookme:compose-test@postgres:5432/")


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", "Dockerfile"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_python_healthcheck():
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.MULTILINE)
    assert len(stages) >= 2
    runtime = text.split(f"AS {stages[-1]}", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", runtime, flags=re.MULTILINE)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.*)$", runtime, flags=re.MULTILINE | re.DOTALL)
    assert healthcheck is not None
    assert '"python"' in healthcheck.group(1) and "/healthz" in healthcheck.group(1)
    assert "curl" not in runtime and "wget" not in runtime
    assert "wsgi:app" in runtime


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".data", ".env", "tests"} <= ignored


def test_procfile_declares_web_worker_scheduler_and_release():
    entries = procfile()
    assert set(entries) == {"web", "worker", "scheduler", "release"}
    assert entries["web"].startswith("gunicorn ")
    assert "0.0.0.0:$PORT" in entries["web"] and entries["web"].endswith("wsgi:app")
    assert entries["worker"] == "python -m bookme.worker worker"
    assert entries["scheduler"] == "python -m bookme.worker scheduler"
    assert "db upgrade" in entries["release"]


def _settings_variables() -> set[str]:
    source = (REPO / "bookme" / "config.py").read_text()
    return set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})"', source))


def test_every_setting_is_documented_in_env_example_and_readme():
    variables = _settings_variables()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SENTRY_DSN"} <= variables
    example = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M)
    )
    readme = (REPO / "README.md").read_text()
    assert variables - example == set(), "add these to .env.example with a comment"
    assert {v for v in variables if f"`{v}`" not in readme} == set(), "add these to README.md"


def test_readme_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block
    headings = re.findall(r"^## (.+)$", readme, flags=re.MULTILINE)
    assert headings[:4] == ["Two commands", "Configuration", "Architecture", "Deployment"]
