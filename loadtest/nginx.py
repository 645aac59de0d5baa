"""nginx configurations for the benchmark: the canned upstream and the plain reverse proxy.

The upstream answers `POST /v1/chat/completions` with a fixed chat.completion body and is much
faster than any proxy in front of it, so the proxy under test is what the numbers measure.
"""

from pathlib import Path

import orjson

from loadtest.procs import Child
from simulator import answers

_EVENTS = "events { worker_connections 4096; multi_accept on; }"
# Long keep-alive on both sides: nginx's default closes a connection every 1,000 requests.
_HTTP_COMMON = """
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
"""


def canned_completion() -> bytes:
    """The simulator's own answer to the benchmark's request, as compact JSON."""
    request = {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]}
    return orjson.dumps(answers.completion(request, 1))


def _quoted(body: bytes) -> str:
    text = body.decode()
    if any(c in text for c in "'\\$"):
        raise ValueError("the canned body must not hold ', \\ or $ (nginx string syntax)")
    return f"'{text}'"


def _config(prefix: Path, http_body: str) -> str:
    common = _HTTP_COMMON.replace("{prefix}", str(prefix))
    return (
        f"worker_processes 1;\npid {prefix}/nginx.pid;\n{_EVENTS}\n"
        f"http {{\n{common}\n{http_body}\n}}\n"
    )


def upstream_config(prefix: Path, port: int, body: bytes) -> str:
    return _config(
        prefix,
        f"""
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location /v1/chat/completions {{
      default_type application/json;
      return 200 {_quoted(body)};
    }}
  }}""",
    )


def proxy_config(
    prefix: Path, port: int, upstream_port: int, stream_port: int, simulator_port: int
) -> str:
    """A reverse proxy as an operator would write it: pooled keep-alive upstream, HTTP/1.1.

    `port` proxies to the canned upstream; `stream_port` to the simulator, unbuffered (SSE).
    """
    return _config(
        prefix,
        f"""
  upstream canned {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
  upstream simulator {{ server 127.0.0.1:{simulator_port}; keepalive 16; }}
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ proxy_pass http://canned; }}
  }}
  server {{
    listen 127.0.0.1:{stream_port} backlog=4096;
    location / {{ proxy_pass http://simulator; proxy_buffering off; }}
  }}""",
    )


def start(name: str, prefix: Path, config: str, cpu: int) -> Child:
    prefix.mkdir(parents=True, exist_ok=True)
    config_file = prefix / "nginx.conf"
    config_file.write_text(config)
    command = [
        "nginx",
        "-p",
        str(prefix),
        "-e",
        str(prefix / "error.log"),
        "-c",
        str(config_file),
        "-g",
        "daemon off;",
    ]
    return Child(name, command, cpu, prefix / "stdout.log")
