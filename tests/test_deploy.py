"""deploy/: what can be checked without Docker or a cluster.

The Dockerfile copies only files that exist (and that .dockerignore lets into the context); the
compose file and every Kubernetes manifest parse; every ``TTP_*`` variable they set is a setting
the service reads; every ``ttp`` command they run exists with the options they pass; the probes
point at paths the app serves; the privacy configuration in the ConfigMap is the shipped example
and is valid; the pods' init scripts do what they say (unpacking keys the keyring accepts,
waiting for the schema); and no file under deploy/ holds private key material.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import db
from app.crypto.keyring import Keyring
from app.main import create_app
from app.privacy.configuration import parse as parse_privacy
from app.records.codelists import load_codelists
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes"
EXAMPLE_PRIVACY = DEPLOY / "privacy.example.toml"
IMAGE = "outcome-ttp"
TTP = Path(sys.executable).parent / "ttp"  # the console script of this environment: the image's entry point


# ---- reading the files ----------------------------------------------------------------------------

def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, rest = pending.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))


def _manifests() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None)
    return documents


def _pod_specs() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod template) of every Deployment and Job."""
    for manifest in _manifests():
        if manifest["kind"] in ("Deployment", "Job"):
            yield manifest, manifest["spec"]["template"]


def _containers(pod: dict[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return list(spec.get("initContainers", []) if init else []) + list(spec["containers"])


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def _ttp_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the TTP image (all but the database)."""
    return {name: service for name, service in _compose()["services"].items()
            if IMAGE in str(service.get("image", ""))}


def _setting_variables() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


# ---- the Dockerfile -------------------------------------------------------------------------------

def test_every_file_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    allowed = {line[1:].strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    sources = []
    for keyword, rest in _dockerfile_instructions():
        if keyword not in ("COPY", "ADD"):
            continue
        assert keyword == "COPY", "ADD fetches and unpacks; the image copies only"
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        if "--from=" in rest:
            continue  # from the builder stage, not from the repository
        sources.extend(words[:-1])
    assert sources, "the Dockerfile copies the project's sources"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert source.rstrip("/").split("/")[0] in allowed, f"COPY {source}: .dockerignore keeps it out of the context"


def test_the_build_context_never_holds_local_state_or_keys() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "an allow-list: everything is out unless named"
    for never in ("**/*.key", "**/*.pem", "**/var", "**/.venv"):
        assert never in lines
    reincluded = {line[1:].strip().rstrip("/") for line in lines if line.startswith("!")}
    assert not reincluded & {"var", ".venv", "tests", "deploy", "build", "dist"}


def test_the_final_image_is_slim_non_root_production_and_has_no_secrets_baked_in() -> None:
    args = dict(rest.split("=", 1) for keyword, rest in _dockerfile_instructions() if keyword == "ARG")
    builder, final = _stages()[0], _stages()[-1]
    assert len(_stages()) >= 2, "multi-stage: a builder and the final image"
    assert any("pip wheel" in rest and ".[server]" in rest for keyword, rest in builder if keyword == "RUN")
    base = final[0][1].split()[0]
    assert base.replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", "")) == "python:3.11-slim"

    env = {}
    for keyword, rest in final:
        if keyword == "ENV":
            env.update(dict(word.split("=", 1) for word in shlex.split(rest)))
    assert env["TTP_ENV"] == "production"
    assert env["TTP_PRIVACY_CONFIG"].startswith("/etc/") and env["TTP_KEY_DIR"].startswith("/run/")

    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "the image runs as a non-root user"
    text = " ".join(rest for _, rest in final).lower()
    for compiler in ("gcc", "build-essential", "g++", "clang", "apt-get install"):
        assert compiler not in text, f"the final stage installs {compiler}"
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert all("--from=builder" in rest for rest in copies), "the final stage takes only the built venv"
    assert not any(re.search(r"privacy|keys?\b|\.toml|\.pem|var/", rest) for rest in copies)
    # The migrations are package data: the builder proves the installed package applies them.
    assert any("ttp db upgrade" in rest for keyword, rest in builder if keyword == "RUN")
    assert db.MIGRATIONS_DIR == Path(db.__file__).resolve().parent / "migrations"


def test_the_dockerfile_needs_no_frontend_image_from_docker_hub() -> None:
    """A ``# syntax=`` directive makes BuildKit pull ``docker/dockerfile`` from Docker Hub before anything
    else; a build host with only a registry mirror failed on it (deploy/README.md, "Run with a real
    Docker daemon"). Nothing here needs a newer frontend than the built-in one."""
    head = DOCKERFILE.read_text(encoding="utf-8").splitlines()[:5]
    assert not any(re.match(r"#\s*syntax\s*=", line, re.IGNORECASE) for line in head)


def test_the_image_health_check_asks_healthz() -> None:
    checks = [rest for keyword, rest in _dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "http://127.0.0.1:8000/healthz" in checks[0]


# ---- parsing, variables, commands -----------------------------------------------------------------

def test_compose_and_every_kubernetes_manifest_parse() -> None:
    assert isinstance(_compose()["services"], dict)
    manifests = _manifests()
    assert {m["kind"] for m in manifests} >= {
        "Deployment", "Job", "Service", "Secret", "PodDisruptionBudget", "NetworkPolicy"}
    for manifest in manifests:
        assert manifest.get("apiVersion") and manifest["metadata"].get("name"), manifest
    kustomization = _kustomization()
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, "kustomization.yaml lists every manifest"
    for generator in kustomization["configMapGenerator"]:
        for name in generator["files"]:
            assert (KUBERNETES / name.split("=")[-1]).is_file(), name


def _deploy_files_setting_variables() -> list[Path]:
    return [DOCKERFILE, COMPOSE, *sorted(p for p in KUBERNETES.iterdir() if p.suffix in (".yaml", ".sh", ".py"))]


def test_every_ttp_variable_deploy_sets_is_a_setting_the_service_reads() -> None:
    known = _setting_variables()
    for path in _deploy_files_setting_variables():
        for name in set(re.findall(r"\bTTP_[A-Z0-9_]+\b", path.read_text(encoding="utf-8"))):
            assert name in known, f"{path.relative_to(ROOT)} uses {name}, which app.settings.Settings does not read"
    set_in_compose = {name for service in _ttp_services().values() for name in service.get("environment", {})}
    set_in_pods = {name for _, pod in _pod_specs() for c in _containers(pod) for name in _env(c)}
    assert {"TTP_ENV", "TTP_DATABASE_URL", "TTP_PRIVACY_CONFIG", "TTP_KEY_DIR", "TTP_RUN_JOBS"} <= set_in_compose
    assert {"TTP_ENV", "TTP_DATABASE_URL", "TTP_PRIVACY_CONFIG", "TTP_KEY_DIR", "TTP_RUN_JOBS"} <= set_in_pods
    assert {n for n in set_in_compose | set_in_pods if n.startswith("TTP_")} <= known


def _ttp_invocations() -> list[list[str]]:
    """Every argument list the deployment passes to the image's entry point, `ttp`."""
    final = _stages()[-1]
    entrypoint = [_exec_form(rest) for keyword, rest in final if keyword == "ENTRYPOINT"][-1]
    assert entrypoint == ["ttp"]
    invocations = [[_exec_form(rest) for keyword, rest in final if keyword == "CMD"][-1]]
    for service in _ttp_services().values():
        assert service.get("entrypoint", ["ttp"]) == ["ttp"]
        invocations.append(service.get("command", invocations[0]))
    for _, pod in _pod_specs():
        for container in _containers(pod, init=False):
            assert "command" not in container, "the image's entry point (ttp) runs"
            invocations.append(container["args"])
    return invocations


def test_every_entry_command_is_a_real_ttp_command_with_those_options() -> None:
    invocations = _ttp_invocations()
    assert ["serve", "--host", "0.0.0.0", "--port", "8000"] in invocations
    commands: dict[tuple[str, ...], set[str]] = {}
    for argv in invocations:
        path = tuple(itertools.takewhile(lambda a: not a.startswith("-"), argv))
        commands.setdefault(path, set()).update(a.split("=")[0] for a in argv if a.startswith("--"))
    assert {("serve",), ("worker",), ("db", "upgrade")} <= set(commands)
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    for path, options in commands.items():
        result = subprocess.run([str(TTP), *path, "--help"], capture_output=True, text=True, env=environment,
                                timeout=120, check=False)
        assert result.returncode == 0, f"ttp {' '.join(path)} --help: {result.stderr}"
        for option in options - {"--help"}:
            assert option in result.stdout, f"ttp {' '.join(path)} has no option {option}"


# ---- probes and paths -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served_paths(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    scratch = tmp_path_factory.mktemp("served")
    app = create_app(Settings(data_dir=scratch, database_url=f"sqlite:///{scratch}/ttp.sqlite3"))
    # The app's own OpenAPI document lists every path its routers serve (included routers are lazy).
    return set(app.openapi()["paths"])


def test_probes_point_at_paths_the_app_serves(served_paths: set[str]) -> None:
    probes = {}
    for workload, pod in _pod_specs():
        for container in _containers(pod, init=False):
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if kind in container:
                    probes[(workload["metadata"]["name"], kind)] = container[kind]["httpGet"]
    assert probes[("ttp-api", "readinessProbe")]["path"] == "/readyz"
    assert probes[("ttp-api", "livenessProbe")]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for _, pod in _pod_specs()
             for c in _containers(pod, init=False) for p in c.get("ports", [])}
    for probe in probes.values():
        assert probe["path"] in served_paths
        assert ports[probe["port"]] == 8000
    assert {"/healthz", "/readyz"} <= served_paths


def test_the_service_targets_the_api_pods() -> None:
    (service,) = [m for m in _manifests() if m["kind"] == "Service"]
    api = next(pod for workload, pod in _pod_specs() if workload["metadata"]["name"] == "ttp-api")
    assert service["spec"]["selector"].items() <= api["metadata"]["labels"].items()
    (pdb,) = [m for m in _manifests() if m["kind"] == "PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= api["metadata"]["labels"].items()


# ---- privacy configuration and keys: mounted, read-only, never baked in ---------------------------

def test_the_configmap_holds_the_example_privacy_configuration_and_it_is_valid() -> None:
    (generator,) = [g for g in _kustomization()["configMapGenerator"] if g["name"] == "ttp-privacy"]
    (entry,) = generator["files"]
    key, _, file = entry.rpartition("=")
    key = key or Path(file).name
    assert key == "privacy.toml"
    assert (KUBERNETES / file).read_bytes() == EXAMPLE_PRIVACY.read_bytes(), (
        "deploy/kubernetes/privacy.toml must be a byte-for-byte copy of deploy/privacy.example.toml")
    codes = load_codelists()
    parse_privacy((KUBERNETES / file).read_text(encoding="utf-8"), source=file,
                  known_municipalities=codes.municipalities.keys(), known_regions=codes.regions.keys())
    # Where the pods mount it is where TTP_PRIVACY_CONFIG points.
    for _, pod in _pod_specs():
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for container in _containers(pod, init=False):
            configured = _env(container).get("TTP_PRIVACY_CONFIG")
            if configured is None:
                continue
            (mount,) = [m for m in container["volumeMounts"] if volumes[m["name"]].get("configMap", {}).get(
                "name") == "ttp-privacy"]
            assert mount.get("readOnly") is True
            assert configured == f"{mount['mountPath']}/{key}"


def test_compose_mounts_the_privacy_configuration_and_keys_read_only_where_the_settings_point() -> None:
    services = _ttp_services()
    for name in ("api", "worker"):
        service = services[name]
        environment = service["environment"]
        mounts = {m["target"]: m for m in service["volumes"]}
        for variable in ("TTP_PRIVACY_CONFIG", "TTP_KEY_DIR"):
            mount = mounts[environment[variable]]
            assert mount["type"] == "bind" and mount["read_only"] is True, (name, variable)
            assert mount["bind"]["create_host_path"] is False
    assert services["api"]["environment"]["TTP_RUN_JOBS"] == "false"
    assert services["api"]["command"][:1] == ["serve"] and "--workers" in services["api"]["command"]
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    postgres = _compose()["services"]["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "ports" not in postgres, "the database is reachable on the compose network only"


def test_pods_run_as_non_root_with_limits_and_read_only_roots_and_keys_mounted_read_only() -> None:
    for workload, pod in _pod_specs():
        spec = pod["spec"]
        name = workload["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False, "Service links inject *_SERVICE_HOST variables (TTP_* ones too)"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in _containers(pod):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), (name, container["name"])
            assert "memory" in container["resources"]["limits"], (name, container["name"])
            assert container["image"].split(":")[0] == IMAGE
        for container in _containers(pod, init=False):
            key_dir = _env(container).get("TTP_KEY_DIR")
            if key_dir is None:
                continue
            (mount,) = [m for m in container["volumeMounts"] if key_dir.startswith(m["mountPath"] + "/")
                        or key_dir == m["mountPath"]]
            assert mount.get("readOnly") is True
            assert volumes[mount["name"]]["emptyDir"]["medium"] == "Memory", "keys never touch the node's disk"
            unpack = [c for c in spec["initContainers"] if c["name"] == "unpack-keys"]
            assert unpack and _env(unpack[0])["TTP_KEY_DIR"] == key_dir, name


def test_only_the_api_the_worker_and_the_migration_reach_the_database() -> None:
    (policy,) = [m for m in _manifests() if m["kind"] == "NetworkPolicy"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    expressions = {e["key"]: set(e["values"]) for e in peer["podSelector"]["matchExpressions"]}
    allowed = expressions["app.kubernetes.io/component"]
    using_database = {pod["metadata"]["labels"]["app.kubernetes.io/component"] for _, pod in _pod_specs()
                      if any("TTP_DATABASE_URL" in _env(c) for c in _containers(pod))}
    assert allowed == using_database == {"api", "worker", "migrate"}
    assert expressions["app.kubernetes.io/name"] == {"outcome-ttp"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_no_file_under_deploy_holds_private_key_material() -> None:
    pattern = re.compile(rb"-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----|-----BEGIN OPENSSH PRIVATE KEY-----")
    for path in [*DEPLOY.rglob("*"), ROOT / ".dockerignore"]:
        if path.is_file():
            assert not pattern.search(path.read_bytes()), f"{path.relative_to(ROOT)} holds a private key"
            assert path.suffix not in (".key", ".pem", ".tar"), f"{path.relative_to(ROOT)}: a key file in deploy/"
    secrets = {m["metadata"]["name"]: m for m in _manifests() if m["kind"] == "Secret"}
    assert secrets["ttp-keys"]["data"] == {"keys.tar": ""}, "the key Secret is an empty placeholder"
    assert "CHANGE-ME" in secrets["ttp-database"]["stringData"]["url"]


# ---- the pods' init scripts, run for real -----------------------------------------------------------

@pytest.mark.skipif(shutil.which("tar") is None or shutil.which("sh") is None, reason="needs sh and tar")
def test_unpack_keys_makes_a_key_directory_the_service_accepts(tmp_path: Path) -> None:
    made = Keyring.create(tmp_path / "made", origin="production")
    archive = tmp_path / "keys.tar"
    with tarfile.open(archive, "w") as tar:  # as `tar -C made -cf keys.tar .` does
        tar.add(made.directory, arcname=".")
    volume = tmp_path / "volume"
    volume.mkdir(mode=0o777)
    environment = {**os.environ, "TTP_KEY_DIR": str(volume / "keys"), "KEYS_ARCHIVE": str(archive)}
    script = KUBERNETES / "unpack-keys.sh"
    for _ in range(2):  # a restarted init container starts afresh
        result = subprocess.run(["sh", str(script)], env=environment, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    ring = Keyring.open(volume / "keys")
    assert ring.origin == "production" and ring.active == made.active
    assert ring.token_signing_key()[0] == made.active["token-signing"] and ring.keks()
    for path in (volume / "keys").rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path

    archive.write_bytes(b"")  # the placeholder Secret
    result = subprocess.run(["sh", str(script)], env=environment, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "placeholder" in result.stderr


def test_wait_for_schema_waits_for_the_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ttp.sqlite3"
    environment = {**os.environ, "TTP_DATABASE_URL": url, "SCHEMA_WAIT_SECONDS": "0"}
    command = [sys.executable, str(KUBERNETES / "wait-for-schema.py")]
    before = subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=120)
    assert before.returncode == 1 and "ttp-migrate" in before.stderr and tmp_path.name not in before.stderr
    db.upgrade(url)
    after = subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=120)
    assert after.returncode == 0, after.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")
def test_kustomize_renders_the_base_with_the_example_privacy_configuration() -> None:
    result = subprocess.run(["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    (privacy,) = [d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("ttp-privacy")]
    assert privacy["data"]["privacy.toml"].encode() == EXAMPLE_PRIVACY.read_bytes()
    names = {d["metadata"]["name"] for d in rendered if d["kind"] == "ConfigMap"}
    for workload in (d for d in rendered if d["kind"] == "Deployment"):
        for volume in workload["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in volume:
                assert volume["configMap"]["name"] in names, "the generated (hashed) names are referenced"
    assert all(d["metadata"]["namespace"] == "outcome-ttp" for d in rendered)
