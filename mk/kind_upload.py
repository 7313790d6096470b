"""``make kind-ess``: copy a local file into the kind cluster's MinIO, with the project's own S3 code.

    python mk/kind_upload.py FILE s3://multilevel-stage/ess/FILE --namespace multilevel

Port-forwards the in-cluster MinIO service to a free local port (``kubectl port-forward``, stdin closed), reads
MinIO's keys from the stage Secret, uploads with ``multilevel.stage`` (boto3: multipart, checksum verified), then
stops the port-forward. Nothing waits for end of input and no pod is left behind when interrupted (the old
``kubectl run -i`` upload hung: its JSON override dropped ``stdinOnce``).
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys
import time
from contextlib import closing, contextmanager


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def secret_value(kubectl: str, namespace: str, secret: str, key: str) -> str:
    encoded = subprocess.run(
        [kubectl, "-n", namespace, "get", "secret", secret, "-o", f"jsonpath={{.data.{key}}}"],
        check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    ).stdout
    return base64.b64decode(encoded).decode()


@contextmanager
def port_forward(kubectl: str, namespace: str, service: str, port: int):
    """``kubectl port-forward`` to a free local port, until the block ends; yields the local URL."""
    local = free_port()
    process = subprocess.Popen(
        [kubectl, "-n", namespace, "port-forward", f"svc/{service}", f"{local}:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"kubectl port-forward svc/{service} failed: {process.stderr.read().decode()}")
            with closing(socket.socket()) as s:
                if s.connect_ex(("127.0.0.1", local)) == 0:
                    break
            time.sleep(0.3)
        else:
            raise SystemExit(f"kubectl port-forward svc/{service} did not open port {local} within 60 s")
        yield f"http://127.0.0.1:{local}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("url", help="s3://bucket/key in the cluster's MinIO")
    parser.add_argument("--namespace", default="multilevel")
    parser.add_argument("--service", default="multilevel-minio")
    parser.add_argument("--secret", default="multilevel-stage-credentials")
    parser.add_argument("--kubectl", default="kubectl")
    args = parser.parse_args(argv)

    from multilevel.stage import split_url

    keys = {k: secret_value(args.kubectl, args.namespace, args.secret, k)
            for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    with port_forward(args.kubectl, args.namespace, args.service, 9000) as endpoint:
        os.environ.update(keys, AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1")
        store, key = split_url(args.url)
        store.upload(key, args.file)
    print(f"uploaded {args.file} to {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
