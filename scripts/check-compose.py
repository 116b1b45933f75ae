#!/usr/bin/env python3
"""Check docker-compose.yml the way an upgrade would test it: every path the server writes is on
a named volume (so `docker compose up --build` keeps it), secrets come from files, and both
services have health checks. With a compose tool installed, `docker-compose config` must accept
the file too. Exit 1 with the reasons otherwise."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(root, "docker-compose.yml")) as f:
    compose = yaml.safe_load(f)
with open(os.path.join(root, "Dockerfile")) as f:
    dockerfile = f.read()

problems = []
services = compose.get("services", {})
named = set((compose.get("volumes") or {}).keys())
declared_secrets = set((compose.get("secrets") or {}).keys())


def mounts(service):
    out = {}
    for v in services[service].get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out[parts[1]] = parts[0]
        else:
            out[v["target"]] = v.get("source")
    return out


def env(service):
    e = services[service].get("environment", {})
    if isinstance(e, list):
        e = dict(x.split("=", 1) for x in e)
    return {k: str(v) for k, v in e.items()}


server = env("livestars")
# The server writes under its data directory only (ciphertexts; the SQLite database when no
# PostgreSQL is configured). The image's default must be the same directory.
data_dir = server.get("LIVESTARS_DATA_DIR")
m = re.search(r"LIVESTARS_DATA_DIR=(\S+)", dockerfile)
image_data_dir = m.group(1) if m else None
if not data_dir:
    problems.append("livestars: LIVESTARS_DATA_DIR is not set")
if data_dir != image_data_dir:
    problems.append(f"data dir {data_dir} differs from the image's {image_data_dir}")
if f"VOLUME {image_data_dir}" not in dockerfile:
    problems.append("the Dockerfile does not declare the data directory a VOLUME")
for service, path in [("livestars", data_dir), ("db", "/var/lib/postgresql/data")]:
    source = mounts(service).get(path)
    if source is None:
        problems.append(f"{service}: {path} is not on a volume")
    elif source not in named:
        problems.append(f"{service}: {path} is on {source!r}, not a named volume")

# Secrets: from files, never literal values in the environment.
for service in services:
    for key, value in env(service).items():
        if re.search(r"PASSWORD$|_KEY$|DATABASE_URL$|RPC_URL$", key):
            problems.append(f"{service}: {key} is given in the environment; use {key}_FILE")
        if re.search(r"://[^/@\s]+:[^/@\s]+@", value):
            problems.append(f"{service}: {key} carries a password")
    for s in services[service].get("secrets", []):
        name = s if isinstance(s, str) else s["source"]
        if name not in declared_secrets:
            problems.append(f"{service}: secret {name} is not declared")
for key, value in server.items():
    if key.endswith("_FILE") and not value.startswith("/run/secrets/"):
        problems.append(f"livestars: {key} does not point into /run/secrets")
for needed in ["LIVESTARS_DATABASE_URL_FILE", "LIVESTARS_CHAIN_KEY_FILE"]:
    if needed not in server:
        problems.append(f"livestars: {needed} is not set")

for service in services:
    if "healthcheck" not in services[service]:
        problems.append(f"{service}: no health check")

tool = shutil.which("docker-compose")
if tool:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(root, "docker-compose.yml"), tmp)
        shutil.copy(os.path.join(root, "Dockerfile"), tmp)
        os.mkdir(os.path.join(tmp, "secrets"))
        for name in declared_secrets:
            with open(os.path.join(tmp, "secrets", name), "w") as f:
                f.write("x\n")
        r = subprocess.run([tool, "config", "-q"], cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            problems.append(f"docker-compose config: {r.stderr.strip()}")

if problems:
    print("compose: " + "\n compose: ".join(problems))
    sys.exit(1)
print(f"compose: ok ({'checked by ' + tool if tool else 'no compose tool installed'})")
