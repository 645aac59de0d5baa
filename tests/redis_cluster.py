"""A local Redis Cluster for tests: N masters (and optional replicas) as real redis-server
processes on free loopback ports, joined with `redis-cli --cluster create`."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.conftest import free_port
from turnout.embedded_redis import find_redis_server


def find_redis_cli() -> str:
    found = shutil.which("redis-cli") or str(Path(find_redis_server()).with_name("redis-cli"))
    if not Path(found).exists():
        raise RuntimeError("redis-cli is needed to create a cluster (apt-get install redis-tools)")
    return found


class ClusterNodeProcess:
    def __init__(self, root: Path, node_timeout_ms: int) -> None:
        self.port = free_port()
        self.bus_port = free_port()  # explicit: port + 10000 may be above 65535
        self.dir = root / str(self.port)
        self.dir.mkdir(parents=True)
        self.node_timeout_ms = node_timeout_ms
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
             "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms),
             "--dir", str(self.dir), "--save", "", "--appendonly", "no",
             "--repl-diskless-sync-delay", "0",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


class LocalCluster:
    def __init__(
        self, root: Path, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 1000
    ) -> None:
        self.replicas = replicas
        count = masters * (1 + replicas)
        self.nodes = [ClusterNodeProcess(root, node_timeout_ms) for _ in range(count)]

    @property
    def url(self) -> str:
        masters = ",".join(node.address for node in self.nodes[:3])
        return f"redis+cluster://{masters}"

    def start(self, timeout_s: float = 20.0) -> None:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            self._wait(lambda n=node: n.client().ping(), timeout_s)
        subprocess.run(
            [find_redis_cli(), "--cluster", "create", *(n.address for n in self.nodes),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout_s,
        )  # fmt: skip
        for node in self.nodes:
            self._wait(lambda n=node: self._ready(n), timeout_s)

    def _ready(self, node: ClusterNodeProcess) -> bool:
        client = node.client()
        try:
            if client.cluster("INFO")["cluster_state"] != "ok":
                return False
            replication = client.info("replication")
            return replication["role"] == "master" or replication["master_link_status"] == "up"
        finally:
            client.close()

    @staticmethod
    def _wait(check: object, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if check():  # type: ignore[operator]
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("redis cluster did not come up in time")
            time.sleep(0.05)

    def master_of(self, key: str) -> ClusterNodeProcess:
        """The node serving `key`'s slot now (asks any live node)."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            client = node.client()
            try:
                slot = client.execute_command("CLUSTER KEYSLOT", key)
                for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                    if start <= slot <= end:
                        port = master[1]
                        return next(n for n in self.nodes if n.port == port)
            finally:
                client.close()
        raise RuntimeError("no live cluster node")

    def replica_of(self, master: ClusterNodeProcess) -> ClusterNodeProcess:
        for node in self.nodes:
            if node is master or node.process is None or node.process.poll() is not None:
                continue
            client = node.client()
            try:
                replication = client.info("replication")
            finally:
                client.close()
            if replication["role"] == "slave" and replication["master_port"] == master.port:
                return node
        raise RuntimeError(f"no replica of {master.address}")

    def flush(self) -> None:
        for node in self.nodes:
            client = node.client()
            try:
                if client.info("replication")["role"] == "master":
                    client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
