"""The docker deploy phase replacing a running container (new one started, old one retired once it answers) against
the raw docker CLI doing `docker stop`, `docker rm`, `docker run` and waiting for an answer. Measured in-process for
loopctl's phase: start-up and the record are `loop_overhead.py`'s business."""

from __future__ import annotations

import secrets
import subprocess
import time
import urllib.request
from pathlib import Path
from tempfile import TemporaryDirectory

from sandbox import SERVICE, engine_cli, remove_from_engine
from timing import checked, figure, median, say, verdict

from loopctl.config import Config, DeployConfig, DockerDeployConfig
from loopctl.phases.base import Context
from loopctl.phases.docker.deploy import STOP_TIMEOUT_S, DockerDeploy
from loopctl.records.store import Store
from tests.support.realparts import BASE_IMAGE, free_port

ROUNDS = 5
GOAL = 1.15
PORT = 8080


def answers(host_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def raw_replace(docker: str, name: str, image: str, host_port: int, secret: str) -> float:
    began = time.monotonic()
    subprocess.run([docker, "stop", "-t", str(STOP_TIMEOUT_S), name], capture_output=True, check=False)
    subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)
    publish = ["-p", f"127.0.0.1:{host_port}:{PORT}", "-e", f"PORT={PORT}", "-e", f"JWT_SECRET={secret}"]
    checked([docker, "run", "-d", "--name", name, *publish, image])
    while not answers(host_port):
        time.sleep(0.05)
    return time.monotonic() - began


def loopctl_replace(folder: Path, name: str, image: str, number: int, secret: str) -> float:
    spec = DockerDeployConfig(name=name, port=PORT, env={"JWT_SECRET": secret})
    config = Config(
        project="bench-deploy", iterations_dir=str(folder), deploy=DeployConfig(target="docker", docker=spec)
    )
    began = time.monotonic()
    DockerDeploy().run(Context(config, Store(folder), number, lambda event: None, {"image": image}))
    return time.monotonic() - began


def main() -> None:
    docker = engine_cli()
    if docker is None:
        say("no docker CLI reaching the engine: the raw side needs it")
        raise SystemExit(1)
    image = f"loopctl-bench-deploy-{secrets.token_hex(3)}:1"
    raw_name, loopctl_name = (
        f"loopctl-bench-deploy-raw-{secrets.token_hex(3)}",
        f"loopctl-bench-deploy-{secrets.token_hex(3)}",
    )
    checked([docker, "build", "-q", "-t", image, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", str(SERVICE)])
    raw, ours = [], []
    try:
        with TemporaryDirectory() as folder:
            host_port = free_port()
            raw_replace(docker, raw_name, image, host_port, "first")  # something to replace in every round
            loopctl_replace(Path(folder), loopctl_name, image, 1, "first")
            for number in range(2, ROUNDS + 2):
                secret = secrets.token_hex(8)  # a new env: the running container cannot be reused
                raw.append(raw_replace(docker, raw_name, image, host_port, secret))
                ours.append(loopctl_replace(Path(folder), loopctl_name, image, number, secret))
                say(f"round {number - 1}: raw {raw[-1]:.2f}s, loopctl deploy {ours[-1]:.2f}s")
    finally:
        remove_from_engine([raw_name, loopctl_name], [image.partition(":")[0]])
    ratio = median(ours) / median(raw)
    say("replacing a running container; both wait until the service answers")
    figure(
        f"deploy_replace: loopctl deploy {median(ours):.2f}s vs docker stop/rm/run {median(raw):.2f}s = {ratio:.2f}x "
        f"(median of {ROUNDS}; goal <= {GOAL}x) {verdict(ratio <= GOAL)}"
    )


if __name__ == "__main__":
    main()
