"""The production files: docker-compose.yml is valid Compose and has what production needs."""

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def load_compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_against_the_compose_specification():
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    document = load_compose()
    document.pop("name", None)  # newer than this copy of the schema
    document = {k: v for k, v in document.items() if not k.startswith("x-")}
    jsonschema.validate(document, schema)


def test_compose_runs_every_part_with_health_checks_and_volumes():
    services = load_compose()["services"]
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("db", "redis", "web", "worker", "beat"):
        assert "healthcheck" in services[name], name
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert any("pgdata" in v for v in services["db"]["volumes"])
    assert services["web"]["environment"]["MOTCUA_ENV"] == "production"


def test_compose_holds_no_secret():
    text = COMPOSE.read_text()
    assert "SECRET_KEY:" not in text
    assert "${POSTGRES_PASSWORD:?" in text


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker compose plugin is not installed on this machine",
)
def test_docker_compose_config_accepts_the_file(tmp_path):
    env = tmp_path / ".env"
    env.write_text("POSTGRES_PASSWORD=x\n")
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "-q"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
